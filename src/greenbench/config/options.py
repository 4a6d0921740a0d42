"""A plugin's options in one place, beside its code: each key's default, JSON-schema fragment and doc
line. A recipe, runtime or forecaster module declares its config block (``variants.<block>``,
``runtimes.<name>``, ``carbon.forecast.<name>``) with ``register_options``; from these declarations

- the config schema gets the block's schema (``assemble_schema``: ``workflow/schemas/config.schema.yaml``
  holds everything else),
- a config that lacks a declared block gets its defaults (``with_defaults``), so a new plugin needs no
  edit of ``config/config.yaml``,
- the plugin reads its options merged over the defaults (``Options.resolve``): no second default in code,
- ``config/README.md`` lists every option (``docs_table``, between the ``plugin options`` markers).

``tests/config/test_config.py`` keeps ``config/config.yaml``, the README and these declarations in step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from greenbench.core.registry import Registry

NO_DEFAULT = object()  # an optional key: absent unless given (e.g. per-variant overrides)


@dataclass(frozen=True)
class Option:
    default: Any
    schema: Mapping[str, Any]
    doc: str
    required: bool = True  # in a block whose options are required (``Options.required``)


@dataclass(frozen=True)
class Options:
    """The config block ``key`` (its path of keys: ``variants.spiking``, ``carbon.forecast.tcn``) and its options; ``required``: the schema
    requires every option that has a default (variant blocks), or none (runtime options)."""

    key: str
    doc: str
    options: Mapping[str, Option] = field(default_factory=dict)
    required: bool = True

    @property
    def name(self) -> str:
        return self.key

    @property
    def path(self) -> list[str]:
        """The keys leading to the block: ``carbon.forecast.tcn`` -> ``["carbon", "forecast", "tcn"]``."""
        return self.key.split(".")

    @property
    def block(self) -> str:
        return self.path[-1]

    def defaults(self) -> dict[str, Any]:
        return {k: copy.deepcopy(o.default) for k, o in self.options.items() if o.default is not NO_DEFAULT}

    def resolve(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options a job was given (its config slice) over the declared defaults."""
        return {**self.defaults(), **dict(given or {})}

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "description": self.doc,
            "properties": {k: {**o.schema, "description": o.doc} for k, o in self.options.items()},
        }
        if self.required:
            out["required"] = [k for k, o in self.options.items() if o.required and o.default is not NO_DEFAULT]
        return out


OPTIONS: Registry[Options] = Registry("config block")
register_options = OPTIONS.register


def declared() -> list[Options]:
    """Every declared block, by key (the recipe, runtime and forecaster packages are discovered first)."""
    from greenbench.carbon.forecasters.forecaster import FORECASTERS
    from greenbench.cells.runtimes import RUNTIMES
    from greenbench.cells.variants import REGISTRY

    for registry in (REGISTRY, RUNTIMES, FORECASTERS):
        registry.load()
    return sorted(OPTIONS.values(), key=lambda o: o.key)


def assemble_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The config schema with every declared block's schema in its place."""
    out = copy.deepcopy(dict(schema))
    for options in declared():
        node = out
        for part in options.path[:-1]:
            node = node["properties"][part]
        node.setdefault("properties", {})[options.block] = options.schema()
    return out


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the defaults of every declared block it lacks (a block it has is left as given; a
    block whose parent is missing is left to the schema to name)."""
    out = dict(config)
    for options in declared():
        parents, node = [out], out
        for part in options.path[:-1]:
            node = node.get(part) if isinstance(node, Mapping) else None
            parents.append(node)
        if not isinstance(node, Mapping) or options.block in node:
            continue
        filled: Any = {**node, options.block: options.defaults()}
        for parent, part in zip(reversed(parents[:-1]), reversed(options.path[:-1])):  # copy the path, not share it
            filled = {**parent, part: filled}
        out = filled
    return out


def given(config: Mapping[str, Any], options: Options) -> Any:
    """The block ``options`` names in ``config``, or None."""
    node: Any = config
    for part in options.path:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _type(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " / ".join(f"`{v}`" for v in schema["enum"])
    kind = {
        "integer": "int",
        "number": "number",
        "boolean": "bool",
        "object": "mapping",
        "array": "list",
        "string": "string",
    }.get(str(schema.get("type", "")), "")
    bounds = [
        f"≥ {schema['minimum']}" if "minimum" in schema else "",
        f"> {schema['exclusiveMinimum']}" if "exclusiveMinimum" in schema else "",
        f"≤ {schema['maximum']}" if "maximum" in schema else "",
    ]
    return " ".join(x for x in [kind, *bounds] if x)


def docs_table() -> str:
    """The README's rows for every declared option: key, type, default, meaning."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for options in declared():
        rows.append(f"| `{options.key}` | block | | {options.doc} |")
        for name, option in options.options.items():
            default = "—" if option.default is NO_DEFAULT else f"`{_compact(option.default)}`"
            rows.append(f"| `{options.key}.{name}` | {_type(option.schema)} | {default} | {option.doc} |")
    return "\n".join(rows) + "\n"


def _compact(value: Any) -> str:
    import json

    return (
        json.dumps(value, separators=(", ", ": "))
        if isinstance(value, (dict, list))
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


BEGIN, END = (
    "<!-- plugin options: begin (generated: python -m greenbench.config.options) -->",
    "<!-- plugin options: end -->",
)


def readme_with_table(text: str) -> str:
    """``config/README.md``'s text with the generated table between the markers."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{docs_table()}{END}{tail}"


if __name__ == "__main__":  # rewrite the README's table (through the imported module: the plugins register there)
    from pathlib import Path

    from greenbench.config import options as _options

    readme = Path(__file__).resolve().parents[3] / "config" / "README.md"
    readme.write_text(_options.readme_with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the plugin options table of {readme}")
