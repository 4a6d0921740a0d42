"""Workarounds for Snakemake behaviour the workflow cannot live with, each applied from the Snakefile.

``quote_script_interpreter``: Snakemake (9.x) runs a rule's ``script:`` as ``{py_exec} {fname:q}`` through
the shell, with ``py_exec`` the running interpreter's path unquoted, so a virtual environment whose path holds
a space (a clone under ``My Projects/``) breaks every job with ``bash: …/My: No such file or directory``.
The patch quotes it (``{py_exec:q}``); an interpreter path without such characters gives the same command.
"""

from __future__ import annotations

_PATCHED = "_greenbench_quotes_interpreter"


def quote_script_interpreter() -> bool:
    """Make Snakemake quote the Python interpreter of ``script:`` jobs; True where the patch applies (idempotent).
    Where a later Snakemake changes its command, nothing is patched and False is returned."""
    try:
        from snakemake.script import PythonScript
    except ImportError:  # the library without Snakemake
        return False
    if getattr(PythonScript, _PATCHED, False):
        return True
    original = PythonScript._execute_cmd

    def _execute_cmd(self, cmd, **kwargs):
        if cmd == "{py_exec} {fname:q}":
            cmd = "{py_exec:q} {fname:q}"
        return original(self, cmd, **kwargs)

    PythonScript._execute_cmd = _execute_cmd
    setattr(PythonScript, _PATCHED, True)
    return True
