"""Stage `build_variant`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations

from typing import Any

from greenbench.core.log import get_logger

log = get_logger(__name__)


def run(j) -> dict[str, Any]:
    from greenbench.cells.variants import get

    s, w = j.params.settings, j.wildcards
    teacher = getattr(j.input, "teacher", None)  # a rewrite's shared teacher logits (rule teacher_logits)
    report = get(w.variant).build(
        j.input.model,
        j.input.train,
        j.output[0],
        w.device,
        s["variant"],
        s["seed"],
        s["finetune"],
        **({"teacher": teacher} if teacher else {}),
    )
    log.info("%s/%s on %s built: %s", w.model, w.variant, w.device, report)
    return report
