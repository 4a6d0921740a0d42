"""One logging helper for the library, the scripts and the CLI."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEBUG_ENV = "GREENBENCH_DEBUG"  # 1: a bad input's report comes with its Python traceback


class InputError(ValueError):
    """Bad input the user can fix: a config key, a data file's line. Its message is the whole report (file:line
    or key, what was found, what is expected); a job that stops on one prints that block, not a traceback
    (``GREENBENCH_DEBUG=1`` adds it)."""


def debug() -> bool:
    import os

    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false", "no")


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
    """Context for a Snakemake script: logs to the rule's log file, records failures there; temporaries go
    to the run's scratch folder (``greenbench.core.scratch``)."""
    from greenbench.core.scratch import job_temp

    configure(log_file)
    logger = get_logger(name)
    try:
        # a workflow job's temporaries (compilers' included) go to the run's scratch folder
        with job_temp():
            yield logger
    except InputError as exc:
        if debug():
            logger.exception("%s stopped on bad input", name)
            raise
        # one block in the job's log (Snakemake shows it), no traceback: the message says what to fix
        logger.error("%s stopped on bad input:\n%s\n(%s=1 shows the traceback)", name, exc, DEBUG_ENV)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("%s failed", name)
        raise
