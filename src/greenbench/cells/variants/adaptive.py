"""Adaptive per-query precision: a complexity estimator routes each query to a precision tier.

Two tiers, cheap then precise (e.g. int8_dynamic then fp32 on CPU). A query goes to the cheap
tier when its complexity score is at most ``score_threshold``; with the confidence gate on, a
cheap answer whose confidence is below ``confidence_threshold`` is escalated to the precise
tier. Thresholds are calibrated on a held-out slice of *train* (never dev): the largest cheap
share whose accuracy stays within ``tolerance`` of the precise tier on that slice.
The estimator and the gate run inside ``forward``, so their cost is inside every energy figure.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from greenbench.config.options import Option, Options, register_options
from greenbench.cells.family import Family, register_family
from greenbench.cells.variants.recipe import Prepared, Variant, cuda_available, get, register

SCORE_QUANTILES = np.round(np.arange(0.0, 1.0001, 0.05), 2)
CONFIDENCE_GRID = (0.0, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass
class ComplexityEstimator:
    """Score = z(length) + z(mean token surprisal under the train unigram distribution)."""

    log_probs: np.ndarray  # per token id, natural log
    length_mean: float
    length_std: float
    surprisal_mean: float
    surprisal_std: float

    @classmethod
    def fit(cls, sequences: list[np.ndarray], vocab_size: int) -> "ComplexityEstimator":
        counts = np.ones(vocab_size, dtype=np.float64)  # add-one smoothing
        for seq in sequences:
            np.add.at(counts, seq, 1)
        log_probs = np.log(counts / counts.sum())
        lengths = np.array([len(s) for s in sequences], dtype=np.float64)
        surprisal = np.array([-log_probs[s].mean() for s in sequences])
        return cls(
            log_probs,
            float(lengths.mean()),
            float(lengths.std() or 1.0),
            float(surprisal.mean()),
            float(surprisal.std() or 1.0),
        )

    def score_numpy(self, sequences: list[np.ndarray]) -> np.ndarray:
        lengths = np.array([len(s) for s in sequences], dtype=np.float64)
        surprisal = np.array([-self.log_probs[s].mean() for s in sequences])
        return (lengths - self.length_mean) / self.length_std + (surprisal - self.surprisal_mean) / self.surprisal_std

    def score_torch(self, input_ids, attention_mask):
        import torch

        table = getattr(self, "_table", None)
        if table is None or table.device != input_ids.device:
            table = self._table = torch.as_tensor(self.log_probs, dtype=torch.float32, device=input_ids.device)
        mask = attention_mask.to(torch.float32)
        lengths = mask.sum(dim=1)
        surprisal = -(table[input_ids] * mask).sum(dim=1) / lengths.clamp(min=1)
        return (lengths - self.length_mean) / self.length_std + (surprisal - self.surprisal_mean) / self.surprisal_std

    def save(self, directory: Path) -> None:
        np.save(directory / "unigram_log_probs.npy", self.log_probs)
        stats = {k: v for k, v in asdict(self).items() if k != "log_probs"}
        (directory / "estimator.json").write_text(json.dumps(stats, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "ComplexityEstimator":
        stats = json.loads((directory / "estimator.json").read_text())
        return cls(np.load(directory / "unigram_log_probs.npy"), **stats)


@dataclass(frozen=True)
class AdaptiveScheduler:
    score_threshold: float
    confidence_threshold: float

    def route_cheap(self, scores: np.ndarray) -> np.ndarray:
        return scores <= self.score_threshold

    def keep_cheap(self, cheap_confidence: np.ndarray) -> np.ndarray:
        return cheap_confidence >= self.confidence_threshold

    def final_tier(self, scores: np.ndarray, cheap_confidence: np.ndarray) -> np.ndarray:
        """0 = answered by the cheap tier, 1 = by the precise tier."""
        return np.where(self.route_cheap(scores) & self.keep_cheap(cheap_confidence), 0, 1)


def calibrate(
    scores,
    cheap_pred,
    cheap_conf,
    precise_pred,
    labels,
    tolerance: float,
    use_confidence: bool = True,
    criterion: str = "agreement",
):
    """Pick thresholds maximising the cheap share on the calibration slice, subject to

    - ``agreement``: routed predictions differ from the precise tier's on at most ``tolerance``
      of queries (label-free fidelity; it bounds the accuracy lost on any data set the
      disagreement rate carries over to), or
    - ``accuracy``: routed accuracy >= precise accuracy - ``tolerance``.

    Pure function of its arrays. Returns (scheduler, report).
    """
    if criterion not in ("agreement", "accuracy"):
        raise ValueError(f"unknown calibration criterion '{criterion}'")
    scores, cheap_pred, cheap_conf = map(np.asarray, (scores, cheap_pred, cheap_conf))
    precise_pred, labels = np.asarray(precise_pred), np.asarray(labels)
    precise_acc = float((precise_pred == labels).mean())
    best = None
    for q in SCORE_QUANTILES:
        t = float(np.quantile(scores, q)) if q > 0 else float(scores.min()) - 1.0
        for c in CONFIDENCE_GRID if use_confidence else (0.0,):
            sched = AdaptiveScheduler(t, c)
            tier = sched.final_tier(scores, cheap_conf)
            pred = np.where(tier == 0, cheap_pred, precise_pred)
            acc = float((pred == labels).mean())
            share = float((tier == 0).mean())
            disagreement = float((pred != precise_pred).mean())
            if criterion == "accuracy" and acc + 1e-12 < precise_acc - tolerance:
                continue
            if criterion == "agreement" and disagreement > tolerance + 1e-12:
                continue
            key = (share, acc)
            if best is None or key > best[0]:
                best = (key, sched)
    (share, acc), sched = best  # q=0 (all precise) always qualifies
    tier = sched.final_tier(scores, cheap_conf)
    routed = np.where(tier == 0, cheap_pred, precise_pred)
    report = {
        "precise_accuracy": precise_acc,
        "cheap_accuracy": float((cheap_pred == labels).mean()),
        "routed_accuracy": acc,
        "cheap_share": share,
        "tolerance": tolerance,
        "criterion": criterion,
        "disagreement": float((routed != precise_pred).mean()),
        "cheap_disagreement": float((cheap_pred != precise_pred).mean()),
        "examples": int(len(labels)),
    }
    return sched, report


def build(
    model_dir: Path,
    train_tokens: Path,
    out_dir: Path,
    device: str,
    params: Mapping[str, Any],
    seed: int,
    finetune_params: Mapping[str, Any],
) -> dict[str, Any]:
    """Fit the estimator on train and calibrate thresholds on a held-out train slice."""
    from greenbench.data import sst2 as data, models
    from greenbench.core import io
    from greenbench.cells.inference import predict

    tiers = list(params["tiers"][device])
    finetune_subset = int(finetune_params["train_subset"])
    tokens = io.read_parquet(train_tokens)
    used = set(data.subset(tokens, finetune_subset, seed)["idx"]) if finetune_subset else set()
    held_out = tokens[~tokens["idx"].isin(used)] if len(used) < len(tokens) else tokens
    # SST-2 train mixes sub-sentence phrases with sentences; calibrate on sentence-like inputs.
    held_out = held_out[held_out["length"] >= int(params["calibration_min_tokens"])]
    calib = data.subset(held_out.reset_index(drop=True), int(params["calibration_size"]), seed + 1)
    tokenizer = models.load_tokenizer(str(model_dir))
    estimator = ComplexityEstimator.fit(list(tokens["input_ids"]), len(tokenizer))
    pad_id = tokenizer.pad_token_id or 0
    base = models.load_classifier(str(model_dir))
    preds = [predict(get(name).prepare(copy.deepcopy(base), device, None, {}), calib, 64, pad_id) for name in tiers]
    scores = estimator.score_numpy(list(calib["input_ids"]))
    sched, report = calibrate(
        scores,
        preds[0].prediction,
        preds[0].confidence,
        preds[1].prediction,
        calib["label"].to_numpy(),
        float(params["tolerance"]),
        bool(params["use_confidence"]),
        params["criterion"],
    )
    report.update(
        tiers=tiers, held_out=len(used) < len(tokens), min_tokens=int(params["calibration_min_tokens"]), **asdict(sched)
    )
    with io.atomic_directory(out_dir) as tmp:
        estimator.save(tmp)
        io.write_json(report, tmp / "calibration.json")
    return report


class _Router(Prepared):
    def __init__(
        self,
        cheap: Prepared,
        precise: Prepared,
        estimator: ComplexityEstimator,
        scheduler: AdaptiveScheduler,
        tiers: list[str],
    ):
        # routing is data-dependent (nonzero, .any(), per-tier shapes): nothing a CUDA graph can capture
        super().__init__(model=None, device=precise.device, graph_safe=False)
        self.cheap, self.precise, self.estimator, self.scheduler = cheap, precise, estimator, scheduler
        self.info = {"tiers": tiers, "tier_counts": [0, 0], "cheap_forwards": 0, **asdict(scheduler)}
        self.trim = True

    def set_padding(self, padding: str) -> None:
        """Where a cell pads every batch to a fixed length (``fixed``), every other variant computes
        that length: so does the router (no trim), or it would look cheaper for reasons that have
        nothing to do with routing. Under dynamic padding each tier's sub-batch is trimmed to its
        own longest sentence, as a dynamically padding server would."""
        self.trim = padding != "fixed"

    def _trim(self, ids, mask):
        if not self.trim:
            return ids, mask
        width = int(mask.sum(dim=1).max().item())
        return ids[:, :width], mask[:, :width]

    def forward(self, input_ids, attention_mask):
        import torch

        scores = self.estimator.score_torch(input_ids, attention_mask)
        to_cheap = scores <= self.scheduler.score_threshold
        logits = torch.empty((input_ids.shape[0], 2), dtype=torch.float32, device=input_ids.device)
        answered = torch.zeros_like(to_cheap)
        if bool(to_cheap.any()):
            idx = to_cheap.nonzero(as_tuple=True)[0]
            cheap_logits = self.cheap.forward(*self._trim(input_ids[idx], attention_mask[idx]))
            confident = torch.softmax(cheap_logits, -1).max(-1).values >= self.scheduler.confidence_threshold
            logits[idx[confident]] = cheap_logits[confident]
            answered[idx[confident]] = True
            self.info["cheap_forwards"] += int(idx.numel())
        rest = (~answered).nonzero(as_tuple=True)[0]
        if rest.numel():
            logits[rest] = self.precise.forward(*self._trim(input_ids[rest], attention_mask[rest]))
        self.last_routes = (~answered).to(torch.int8)
        self.info["tier_counts"][0] += int(answered.sum())
        self.info["tier_counts"][1] += int(rest.numel())
        return logits


def _prepare(model, device, artifact, params) -> Prepared:
    if artifact is None:
        raise ValueError("variant 'adaptive' needs its calibration artifact (build_variant)")
    artifact = Path(artifact)
    report = json.loads((artifact / "calibration.json").read_text())
    tiers = report["tiers"]
    cheap = get(tiers[0]).prepare(copy.deepcopy(model), device, None, {})
    precise = get(tiers[1]).prepare(model, device, None, {})
    router = _Router(
        cheap,
        precise,
        ComplexityEstimator.load(artifact),
        AdaptiveScheduler(report["score_threshold"], report["confidence_threshold"]),
        tiers,
    )
    router.model = precise.model
    router.components = [cheap.model, precise.model]
    return router


register(
    Variant(
        "adaptive",
        "adaptive",
        ("cpu", "cuda"),
        "per-query precision: complexity estimator + confidence gate routes to a cheap or a precise tier",
        _prepare,
        requirements=cuda_available,
        build=build,
        finetune_keys=("train_subset",),
        label="adaptive precision",
        one_module=False,
    )
)
register_family(Family("adaptive", "adaptive precision", "#56B4E9", "v", order=30, group="precision"))

TIERS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"cpu": {"$ref": "#/$defs/tiers"}, "cuda": {"$ref": "#/$defs/tiers"}},
}
register_options(
    Options(
        "variants.adaptive",
        "the adaptive-precision router (variant `adaptive`)",
        {
            "tiers": Option(
                {"cpu": ["int8_dynamic", "fp32"], "cuda": ["fp16", "fp32"]},
                TIERS,
                "[cheap, precise] registered variants used as the router's tiers on each device",
            ),
            "calibration_size": Option(
                2000,
                {"type": "integer", "minimum": 50},
                "held-out train sentences (never dev) used to set the thresholds",
            ),
            "calibration_min_tokens": Option(
                10, {"type": "integer", "minimum": 1}, "train phrases shorter than this are skipped when calibrating"
            ),
            "criterion": Option(
                "agreement",
                {"enum": ["agreement", "accuracy"]},
                "agreement: routed answers may differ from the precise tier's on at most `tolerance` of the "
                "slice; accuracy: they may lose at most `tolerance` accuracy",
            ),
            "tolerance": Option(
                0.0025,
                {"type": "number", "minimum": 0, "maximum": 1},
                "the disagreement (or accuracy, a fraction) the router may lose",
            ),
            "use_confidence": Option(
                True, {"type": "boolean"}, "escalate low-confidence cheap answers to the precise tier"
            ),
        },
    )
)
