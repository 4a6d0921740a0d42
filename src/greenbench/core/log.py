"""One logging helper for the library, the scripts and the CLI."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("greenbench") else f"greenbench.{name}")


def configure(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send greenbench logs to stderr and, when given, to ``log_file`` (appended)."""
    root = logging.getLogger("greenbench")
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="a", encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    root.propagate = False


@contextlib.contextmanager
def logged_script(log_file: str | Path | None, name: str) -> Iterator[logging.Logger]:
    """Context for a Snakemake script: logs to the rule's log file, records failures there."""
    configure(log_file)
    logger = get_logger(name)
    try:
        yield logger
    except Exception:
        logger.exception("%s failed", name)
        raise
