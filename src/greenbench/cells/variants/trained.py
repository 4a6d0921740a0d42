"""Variants trained from the baseline: rewrite the model, then a short recovery fine-tune.

A ``TrainedRecipe`` has two halves:

- ``plan(model, tokens, params, seed, pad_id) -> dict``: decide the rewrite from the baseline
  (which heads to drop, the magnitude threshold, the attention rule...). JSON, small.
- ``apply(model, plan)``: perform the rewrite. It runs once before training in ``build`` and
  again at load time on a fresh baseline before the trained weights are loaded, so the stored
  artifact is only ``plan.json`` + ``model.pt`` (+ a report and the training log).

``constraint(model, plan)`` (optional) returns a callable run after every optimizer step
(pruning masks stay pruned). Recovery settings come from the shared ``variants.recovery`` block:
train subset, epochs, learning rate, and distillation from the unmodified baseline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from greenbench.config.options import Option, Options, register_options
from greenbench.data import recovery as recovery_rules
from greenbench.cells.variants.recipe import Prepared, Variant, cuda_available, footprint, register

PlanFn = Callable[[Any, Any, Mapping[str, Any], int, int], dict]
ApplyFn = Callable[[Any, Mapping[str, Any]], None]


@dataclass(frozen=True)
class TrainedRecipe:
    plan: PlanFn
    apply: ApplyFn
    constraint: Callable[[Any, Mapping[str, Any]], Callable[[], None] | None] | None = None
    summarize: Callable[[Any, Mapping[str, Any]], dict] | None = None  # facts for the report / variant_info


def build(recipe: TrainedRecipe, name: str):
    def build_fn(
        model_dir,
        train_tokens,
        out_dir,
        device: str,
        params: Mapping[str, Any],
        seed: int,
        finetune_params: Mapping[str, Any],
    ) -> dict[str, Any]:
        import torch

        from greenbench.data import sst2 as data, models
        from greenbench.core import io
        from greenbench.data.training import TRAINING_LOG_SCHEMA, total_steps, train_classifier

        models.prepare_runtime(seed)
        recovery = RECOVERY.resolve(params["recovery"])  # a slice written before an option existed gets its default
        tokenizer = models.load_tokenizer(str(model_dir))
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        train = io.read_parquet(train_tokens)
        tokens = data.subset(train, int(recovery["train_subset"]), seed + 101)
        size, min_tokens, checks, patience = recovery_rules.settings(recovery)
        finetune_subset = int(finetune_params.get("train_subset", 0))
        used = set(tokens["idx"]) | (
            set(data.subset(train, finetune_subset, seed)["idx"]) if finetune_subset else set()
        )
        held = recovery_rules.holdout(train, used=used, size=size, min_tokens=min_tokens, seed=seed)
        model = models.load_classifier(str(model_dir)).to(device)
        before = footprint(model)
        started = time.perf_counter()
        plan = recipe.plan(model, tokens, params, seed, pad_id)
        recipe.apply(model, plan)
        after_step = recipe.constraint(model, plan) if recipe.constraint else None
        distill = recovery.get("distill") or {}
        teacher = None
        if float(distill.get("alpha", 0.0)) > 0:
            teacher = models.load_classifier(str(model_dir)).to(device).eval()
        planned = total_steps(len(tokens), recovery) if int(recovery["epochs"]) > 0 else 0
        selection = recovery_rules.Selection(patience) if planned and checks and len(held) else None
        on_step = None
        if selection is not None:
            # the rewrite alone (its un-tuned twin) is the first candidate: recovery never ends below it
            selection.offer(0, *recovery_rules.score(model, held, pad_id), model)
            at = set(recovery_rules.check_steps(planned, checks))

            def on_step(done: int) -> bool:
                return done in at and selection.offer(done, *recovery_rules.score(model, held, pad_id), model)

        history = (
            train_classifier(
                model,
                tokens,
                recovery,
                seed,
                pad_id,
                desc=f"recover {name}",
                teacher=teacher,
                distill=distill,
                after_step=after_step,
                on_step=on_step,
            )
            if planned
            else None
        )
        if selection is not None:
            selection.restore(model)
        model = model.cpu().eval()
        report = {
            "variant": name,
            "plan_summary": _short(plan),
            "baseline": before,
            "after": footprint(model),
            "recovery": recovery,
            "recovery_examples": len(tokens),
            "recovery_steps": 0 if history is None else len(history),
            "holdout_examples": len(held),
            "selection": None
            if selection is None
            else selection.report(planned, 0 if history is None else len(history)),
            "seconds": round(time.perf_counter() - started, 3),
        }
        if recipe.summarize:
            report.update(recipe.summarize(model, plan))
        with io.atomic_directory(out_dir) as tmp:
            torch.save(model.state_dict(), tmp / "model.pt")
            io.write_json(plan, tmp / "plan.json")
            io.write_json(report, tmp / "report.json")
            if history is not None:
                io.write_parquet(history, tmp / "training_log.parquet", TRAINING_LOG_SCHEMA, {"variant": name})
        return report

    return build_fn


def _short(plan: Mapping[str, Any]) -> dict:
    """The plan without long per-layer index lists (those stay in plan.json)."""
    return {
        k: (f"{len(v)} layers" if isinstance(v, list) and v and isinstance(v[0], list) else v) for k, v in plan.items()
    }


def prepare(recipe: TrainedRecipe, name: str):
    def prepare_fn(model, device, artifact=None, params=None) -> Prepared:
        import torch

        if artifact is None:
            raise ValueError(f"variant '{name}' needs its trained artifact (rule build_variant)")
        artifact = Path(artifact)
        plan = json.loads((artifact / "plan.json").read_text())
        recipe.apply(model, plan)
        state = torch.load(artifact / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        info = {"plan": _short(plan)}
        if recipe.summarize:
            info.update(recipe.summarize(model, plan))
        return Prepared(model.float().to(device).eval(), device, info=info)

    return prepare_fn


def register_trained(
    name: str,
    family: str,
    description: str,
    recipe: TrainedRecipe,
    config_blocks: tuple[str, ...] = (),
    label: str = "",
    order: int = 1000,
) -> Variant:
    return register(
        Variant(
            name,
            family,
            ("cpu", "cuda"),
            description,
            prepare(recipe, name),
            requirements=cuda_available,
            build=build(recipe, name),
            config_blocks=("recovery", *config_blocks),
            finetune_keys=("train_subset",),  # the held-out slice excludes the fine-tune's draw
            label=label,
            order=order,
        )
    )


DISTILL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["alpha", "temperature"],
    "properties": {
        "alpha": {"type": "number", "minimum": 0, "maximum": 1},
        "temperature": {"type": "number", "exclusiveMinimum": 0},
    },
}
RECOVERY = register_options(
    Options(
        "variants.recovery",
        "the short fine-tune after a rewrite (pruning, sparse attention `*_ft`, spiking)",
        {
            "train_subset": Option(3000, {"type": "integer", "minimum": 0}, "train examples (seeded draw); 0 = all"),
            "epochs": Option(1, {"type": "integer", "minimum": 0}, "0 = the rewrite only, no recovery"),
            "batch_size": Option(32, {"type": "integer", "minimum": 1}, "examples per step"),
            "learning_rate": Option(
                1.0e-4, {"type": "number", "exclusiveMinimum": 0, "maximum": 1}, "AdamW peak learning rate"
            ),
            "weight_decay": Option(0.01, {"type": "number", "minimum": 0}, "AdamW weight decay"),
            "warmup_ratio": Option(
                0.06, {"type": "number", "minimum": 0, "maximum": 1}, "linear warm-up share of the steps"
            ),
            "max_steps": Option(0, {"type": "integer", "minimum": 0}, "0 = no cap"),
            "holdout": Option(
                500,
                {"type": "integer", "minimum": 0},
                "held-out train sentences (never dev, never the fine-tune's or recovery's draw) that score the "
                "rewrite before recovery (its un-tuned twin) and at each check; the best state is kept, so "
                "recovery never ends below the rewrite alone; 0 = keep the last step, no checks",
            ),
            "holdout_min_tokens": Option(
                10, {"type": "integer", "minimum": 1}, "skip train's short sub-sentence phrases in the held-out slice"
            ),
            "checks": Option(
                2,
                {"type": "integer", "minimum": 0},
                "held-out scorings during recovery, evenly spaced, the last at its end",
            ),
            "patience": Option(
                1,
                {"type": "integer", "minimum": 0},
                "stop recovery after this many checks in a row without a better held-out score; 0 = never early",
            ),
            "distill": Option(
                {"alpha": 0.5, "temperature": 2.0},
                DISTILL,
                "loss = (1 − α)·CE + α·T²·KL(baseline ‖ student) from the unmodified baseline; α = 0 trains on "
                "labels only",
            ),
        },
    )
)
