"""Load, merge and validate configuration against the JSON schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from greenbench.core import textfiles
from greenbench.core.log import InputError, get_logger

from greenbench.config.devices import detected_devices, resolve_devices  # noqa: F401  (part of this module's API)

log = get_logger(__name__)


class ConfigError(InputError):
    """The configuration is invalid; the message names every offending key."""


# Tables keyed by zone or by name, and the served cell: a later config file that gives one replaces it
# whole (a user's grid brings its own origins, latencies and scenarios; merging would keep the default
# European rows, and a served cell given as J per request would keep the measured cell's keys).
TABLES = (
    ("carbon", "schedule", "origin_shares"),
    ("carbon", "schedule", "latency_ms"),
    ("carbon", "schedule", "scenarios"),
    ("carbon", "schedule", "energy"),
    ("study", "runtimes"),
)  # the runtime axis a file gives is the whole axis: `runtimes: {}` is none


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any], _at: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge like Snakemake's ``--configfile``: nested mappings merge, everything else replaces; the
    ``TABLES`` are replaced whole."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        here = (*_at, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and here not in TABLES:
            out[key] = deep_merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _get(config: Mapping[str, Any], path: tuple[str, ...]):
    for key in path:
        if not isinstance(config, Mapping) or key not in config:
            return None
        config = config[key]
    return config


def replace_tables(merged: Mapping[str, Any], files: Mapping[str, Any]) -> dict[str, Any]:
    """``merged`` (Snakemake's own merge of the config files) with every table in ``TABLES`` taken from
    ``files`` (``load_config`` of the same files, which replaces tables whole)."""
    out = copy.deepcopy(dict(merged))
    for path in TABLES:
        value = _get(files, path)
        parent = _get(out, path[:-1])
        if value is not None and isinstance(parent, dict):
            parent[path[-1]] = copy.deepcopy(value)
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader for which a key given twice in one mapping is an error (PyYAML keeps the last)."""


def _unique_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: the keys given here override it
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"key {key!r} is given twice (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_config(paths: Iterable[str | Path]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        try:
            decoded = textfiles.decode(path.read_bytes())  # the readers' one decoding: BOM dropped, encodings named
            if decoded.bom:
                log.info("%s: %s", path, textfiles.BOM_NOTE)
            loaded = yaml.load(decoded.text, Loader=_UniqueKeyLoader)
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except textfiles.NotUTF8Text as exc:
            raise ConfigError(exc.at(path)) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if loaded is None:
            raise ConfigError(
                f"{path}: empty config file (nothing but blank lines or comments): give at least one key, "
                "or leave the file out"
            )
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        config = deep_merge(config, loaded)
    return config


def validate_config(
    config: Mapping[str, Any], schema_path: str | Path | None = None, files: bool = True
) -> dict[str, Any]:
    """Raise :class:`ConfigError` naming every bad key; return the config otherwise, in canonical
    form (``wiring.canonical``) with ``study.devices: auto`` resolved to the devices this host has.
    ``files`` False: no input file is looked for (``semantic_errors``)."""
    from greenbench.config.checks import semantic_errors, study_cells
    from greenbench.config.schema import DEFAULT_SCHEMA, schema_errors

    from greenbench.config.options import with_defaults

    config = with_defaults(config)  # a declared plugin block the config lacks: its defaults
    problems = schema_errors(config, DEFAULT_SCHEMA if schema_path is None else schema_path)
    if not problems:
        problems = semantic_errors(config, files=files)
    if problems:
        raise ConfigError("invalid greenbench config:\n  " + "\n  ".join(problems))
    from greenbench.pipeline.wiring import canonical

    out = canonical(config)  # integral floats as ints: `trials: 2.0` (valid as an integer) is 2 everywhere
    out["study"]["devices"] = resolve_devices(config["study"]["devices"])
    out["study"]["variants"] = study_cells(out["study"])  # runtimes expanded: the cells every rule reads
    return out
