"""Stage `teacher_logits`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations


def run(j) -> None:
    from greenbench.data.recovery import write_teacher_logits

    s = j.params.settings
    write_teacher_logits(
        j.input.model, j.input.train, j.output[0], examples=s["examples"], seed=s["seed"], threads=j.threads
    )
