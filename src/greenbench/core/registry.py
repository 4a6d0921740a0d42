"""Plugin discovery: every module of a plugin package is imported once, and what each registers is
remembered by module, so a workflow job can depend on exactly the plugin modules its cells use.

Plugin modules are found by listing the package (``pkgutil``), not by importing them by name: adding
a plugin touches its own module only, and the package's ``__init__`` (an input of every job that
imports the package) does not name its plugins, so editing one plugin reruns only its own jobs.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Iterable, Mapping


def defining_module(helpers: Iterable[str]) -> str:
    """The module that called a register function, looking past ``helpers`` (the registry's own
    modules and shared registration helpers): where a plugin is defined."""
    helpers = set(helpers)
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name not in helpers:
            return name
        frame = frame.f_back
    return ""


def discover(package: str, path: Iterable[str], defined_in: Mapping[str, str],
             support: Iterable[str] = ()) -> dict[str, str]:
    """Import every module of ``package`` (in name order) except ``support`` ones (shared code that
    registers nothing), and return {registered name: defining module} (as ``defining_module`` saw it
    at registration, so a plugin module that imports another does not claim its plugins)."""
    skip = set(support)
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda i: i.name):
        if info.name not in skip and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
    return {name: module for name, module in defined_in.items() if module.startswith(package + ".")}
