"""Support for the Snakefile: make the library importable in every job."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path


def use_source_tree(src: str | Path) -> None:
    """Put ``src`` first on this process's path and on jobs' PYTHONPATH (also under --sdm conda)."""
    src = str(Path(src).resolve())
    if src not in sys.path:
        sys.path.insert(0, src)
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *current])


def optional_input(value) -> str | None:
    """A Snakemake input that is absent, empty, a path, or a one-element list -> path or None."""
    if value is None or isinstance(value, str):
        return value or None
    items = list(value)
    if len(items) > 1:
        raise ValueError(f"expected at most one input, got {items}")
    return items[0] if items else None


def _module_file(src: Path, name: str) -> Path | None:
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree, package: str, src: Path | None = None) -> set[str]:
    """Names of greenbench modules an AST imports, anywhere in it (function-level imports too).
    With ``src``, ``from pkg import submodule`` names the submodule only (not ``pkg`` itself)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "greenbench")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] != "greenbench":
                continue
            subs = {f"{base}.{a.name}" for a in node.names}  # kept only where a module of that name exists
            if src is None or not all(_module_file(src, m) for m in subs):
                found.add(base)
            found.update(subs)
    return found


# Modules that measure a job rather than shape what it writes (the per-job footprint window): a
# rule whose script only wraps its work in them does not list them, so editing the meter code does
# not rerun the fine-tune. The rules that compute from them (footprint, paper) do list them. Where a
# job's temporaries go (core.scratch) shapes no output either.
INSTRUMENTATION = ("greenbench.analysis.study_cost", "greenbench.core.scratch")


# Plugin packages whose modules a job depends on per cell (``cell_lib`` in workflow/rules/common.smk adds
# the modules of the job's own recipes and runtimes). Every other ``Registry(kind, "<package>")`` imports
# all of its package's modules when first used, so a module declaring one depends on all of them; so
# does a module that reads every plugin of a package (``READS_PLUGINS = ("<package>", ...)``).
PER_CELL_PACKAGES = ("greenbench.cells.variants", "greenbench.cells.runtimes")


def _discovered(tree, src: Path) -> set[str]:
    """The plugin modules a module's ``Registry(kind, "<package>", ...)`` declarations discover."""
    import ast

    found: set[str] = set()
    packages = []
    for node in ast.walk(tree):
        # READS_PLUGINS = ("<package>", ...): a module that reads every plugin of those packages
        if (
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") == "READS_PLUGINS" for t in node.targets)
            and isinstance(node.value, (ast.Tuple, ast.List))
        ):
            packages += [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    for package in packages:
        found.update(_package_modules(src, package))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Registry"):
            continue
        if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant) or not isinstance(node.args[1].value, str):
            continue
        package = node.args[1].value
        if package not in PER_CELL_PACKAGES:
            found.update(_package_modules(src, package))
    return found


def _package_modules(src: Path, package: str) -> set[str]:
    """A package and every module in it and in its subpackages (as ``Registry`` discovers them)."""
    folder = src.joinpath(*package.split("."))
    if not folder.is_dir():
        return set()
    found = {package}
    for f in sorted(folder.iterdir()):
        if f.name.startswith("_"):
            continue
        if f.suffix == ".py":
            found.add(f"{package}.{f.stem}")
        elif (f / "__init__.py").is_file():
            found |= _package_modules(src, f"{package}.{f.name}")
    return found


def module_closure(src: str | Path, script: str | Path, exclude: tuple[str, ...] = ()) -> list[str]:
    """Every greenbench source file ``script`` imports (see ``_closure``); memoised until a source file
    changes, since a workflow asks for the same closures once per job."""
    return list(_closure(_tree_state(src), str(src), str(script), Path(script).stat().st_mtime_ns, tuple(exclude)))


def _tree_state(src: str | Path) -> tuple:
    """Which source files exist under ``src`` and when each last changed (cheap: a directory walk)."""
    return tuple(sorted((str(p), p.stat().st_mtime_ns) for p in Path(src).resolve().rglob("*.py")))


@functools.lru_cache(maxsize=None)
def _closure(
    _tree: tuple, src: str | Path, script: str | Path, _mtime: int, exclude: tuple[str, ...]
) -> tuple[str, ...]:
    """Every greenbench source file ``script`` imports, directly or through other greenbench
    modules (package ``__init__`` files included), as paths relative to ``src``'s parent: a rule
    lists exactly these as inputs, so editing one reruns exactly the jobs that import it.
    Modules in ``exclude`` (and what only they import) are left out."""
    import ast

    src = Path(src)
    todo = [(Path(script), "")]
    seen: dict[str, Path] = {}
    while todo:
        path, package = todo.pop()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in sorted(_imported(tree, package) | _discovered(tree, src)):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                module = ".".join(parts[:i])
                if module in exclude:
                    break
                if module in seen:
                    continue
                file = _module_file(src, module)
                if file is None:
                    continue
                seen[module] = file
                pkg = module if file.name == "__init__.py" else module.rpartition(".")[0]
                todo.append((file, pkg))
    root = src.parent
    return tuple(sorted(str(f.relative_to(root)) for f in seen.values()))


def plugin_files(src: str | Path, modules, exclude: tuple[str, ...] = ()) -> list[str]:
    """The source files of plugin ``modules`` (dotted names) and everything they import: what a job
    that runs those plugins adds to its script's ``module_closure``."""
    src = Path(src)
    files: set[str] = set()
    for module in modules:
        file = _module_file(src, module)
        if file is None:
            raise ValueError(f"no source file for plugin module {module} under {src}")
        files.add(str(file.relative_to(src.parent)))
        files.update(module_closure(src, file, exclude))
    return sorted(files)
