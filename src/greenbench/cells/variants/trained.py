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
        teacher: str | Path | None = None,
    ) -> dict[str, Any]:
        """``teacher``: the baseline's logits on this recovery draw (rule ``teacher_logits``), shared by every
        rewrite that recovers on the same draw; None: computed here."""
        import torch

        from greenbench.data import sst2 as data, models
        from greenbench.core import io
        from greenbench.data.training import TRAINING_LOG_SCHEMA, total_steps, train_classifier

        models.prepare_runtime(seed)
        recovery = RECOVERY.resolve(params["recovery"])  # a slice written before an option existed gets its default
        tokenizer = models.load_tokenizer(str(model_dir))
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        train = io.read_parquet(train_tokens)
        tokens = recovery_rules.recovery_draw(train, int(recovery["train_subset"]), seed)
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
        if not recovery["train_embeddings"]:  # no rewrite touches them; their AdamW update is a share of every step
            model.get_input_embeddings().weight.requires_grad_(False)
        distill = recovery.get("distill") or {}
        planned = total_steps(len(tokens), recovery) if int(recovery["epochs"]) > 0 else 0
        criterion = str(recovery["criterion"])
        selection = recovery_rules.Selection(patience, criterion) if planned and checks and len(held) else None
        on_step, skipped, held_reference, baseline = None, False, None, None
        skip_below = float(recovery["skip_below_kl"])
        if selection is not None:
            if criterion == "fidelity" or skip_below > 0:  # the baseline's answers on the held-out slice, once
                baseline = models.load_classifier(str(model_dir)).to(device)
                held_reference = recovery_rules.teacher_logits(baseline, held, pad_id)

            def check() -> dict[str, float]:
                return recovery_rules.score(model, held, pad_id, held_reference)

            # the rewrite alone (its un-tuned twin) is the first candidate: recovery never ends below it
            selection.offer(0, check(), model)
            skipped = recovery_rules.close_enough(selection.checks[0], skip_below)
            at = set(recovery_rules.check_steps(planned, checks))

            def on_step(done: int) -> bool:
                return done in at and selection.offer(done, check(), model)

        soft_targets, teacher_source = None, None
        if float(distill.get("alpha", 0.0)) > 0 and planned and not skipped:  # a skipped rewrite needs no teacher
            if teacher is not None:
                soft_targets = recovery_rules.aligned_teacher(io.read_parquet(teacher), tokens, str(teacher))
                teacher_source = "shared"
            else:
                baseline = baseline or models.load_classifier(str(model_dir)).to(device)
                soft_targets = recovery_rules.teacher_logits(baseline, tokens, pad_id)
                teacher_source = "computed"
        baseline = None

        history = (
            train_classifier(
                model,
                tokens,
                recovery,
                seed,
                pad_id,
                desc=f"recover {name}",
                teacher=soft_targets,
                distill=distill,
                after_step=after_step,
                on_step=on_step,
            )
            if planned and not skipped
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
            "teacher_logits": teacher_source,
            "selection": None
            if selection is None
            else selection.report(planned, 0 if history is None else len(history))
            | {"skipped_below_kl": skip_below if skipped else None},
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


TRAINED: set[str] = set()  # the recipes whose build is a rewrite and a recovery (register_trained)


def teacher_draw(params: Mapping[str, Any], name: str) -> int | None:
    """The recovery draw (train examples, 0 = all) whose teacher logits the build of ``name`` reads, given its
    parameters (``params_for``); None when it reads none (not a rewrite, no recovery, or no distillation)."""
    if name not in TRAINED:
        return None
    recovery = RECOVERY.resolve(params.get("recovery"))
    if int(recovery["epochs"]) <= 0 or float((recovery.get("distill") or {}).get("alpha", 0.0)) <= 0:
        return None
    return int(recovery["train_subset"])


def register_trained(
    name: str,
    family: str,
    description: str,
    recipe: TrainedRecipe,
    config_blocks: tuple[str, ...] = (),
    label: str = "",
    order: int = 1000,
) -> Variant:
    TRAINED.add(name)
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


# A rewrite's own overrides of `variants.recovery` (`variants.<name>.recovery`): the keys a recipe may need
# more or less of than the shared default (params_for merges them over the shared block).
RECOVERY_OVERRIDE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "train_subset": {"type": "integer", "minimum": 0},
        "epochs": {"type": "integer", "minimum": 0},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "max_steps": {"type": "integer", "minimum": 0},
        "checks": {"type": "integer", "minimum": 0},
        "skip_below_kl": {"type": "number", "minimum": 0},
    },
}


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
            "train_embeddings": Option(
                True,
                {"type": "boolean"},
                "also train the word-embedding matrix; false keeps the baseline's (no rewrite changes it) and skips "
                "its optimizer update, 11.7 of MiniLM's 22.7 M parameters (a dense rewrite's step 14% shorter, "
                "but magnitude50 lost 0.57 points on dev: experiments/2026-12-07-recovery-budget)",
            ),
            "holdout": Option(
                1000,
                {"type": "integer", "minimum": 0},
                "held-out train sentences (never dev, never the fine-tune's or recovery's draw) that score the "
                "rewrite before recovery (its un-tuned twin) and at each check; the best state is kept, so "
                "recovery never ends below the rewrite alone; 0 = keep the last step, no checks",
            ),
            "holdout_min_tokens": Option(
                10, {"type": "integer", "minimum": 1}, "skip train's short sub-sentence phrases in the held-out slice"
            ),
            "criterion": Option(
                "fidelity",
                {"enum": ["fidelity", "accuracy"]},
                "what the held-out checks rank: `fidelity`, the KL divergence from the baseline's answers (lower "
                "wins, accuracy breaks ties), or `accuracy` (the lower NLL breaks ties)",
            ),
            "checks": Option(
                2,
                {"type": "integer", "minimum": 0},
                "held-out scorings during recovery, evenly spaced, the last at its end",
            ),
            "skip_below_kl": Option(
                0.015,
                {"type": "number", "minimum": 0},
                "keep the rewrite as it is, without training, when its un-tuned held-out KL divergence from the "
                "baseline's answers is below this (nats per sentence): recoveries here end 0.02-0.03 from the "
                "baseline, so a closer rewrite has nothing to gain (experiments/2026-12-07-laptop-budget); 0 = "
                "always train",
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
