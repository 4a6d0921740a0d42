"""One module per workflow rule, named like it, each with ``run(job)``: the rule's script (``scripts/<rule>.py``)
calls it with Snakemake's job object, the CLI with the same fields built from the output layout
(``greenbench.pipeline.paths``) and the same settings (``greenbench.pipeline.wiring.<rule>``). What a stage
reads from its settings is therefore plumbed once, there. Each stage is its own module so that a rule's
inputs (the modules its script imports) stay exact.

A job is anything with ``input`` (attributes), ``output`` (indexable, attributes for named
outputs), ``wildcards``, ``threads`` and ``params.settings`` (the wiring's slice of the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Mapping


class Output(list):
    """A list of output paths whose named entries are also attributes (like Snakemake's)."""

    def __init__(self, positional=(), **named):
        super().__init__([*positional, *named.values()])
        self.__dict__.update(named)


@dataclass
class Job:
    """The fields of a Snakemake job a stage reads, for running a stage without Snakemake."""

    input: Any
    output: Output
    settings: Mapping[str, Any]
    wildcards: Any = field(default_factory=SimpleNamespace)
    threads: int | None = None

    @property
    def params(self):
        return SimpleNamespace(settings=self.settings)


def job(
    inputs: Mapping[str, Any],
    outputs: Output,
    settings: Mapping[str, Any],
    threads: int | None = None,
    **wildcards: str,
) -> Job:
    return Job(SimpleNamespace(**inputs), outputs, settings, SimpleNamespace(**wildcards), threads)
