"""The configuration checked against its JSON schema: one message per bad key, naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

DEFAULT_SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


def _key_path(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        # Name the unexpected key itself, not only its parent.
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            return ".".join(parts + [extra[0]])
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            return ".".join(parts + [missing[0]])
    return ".".join(parts) or "<top level>"


def _describe(error) -> str:
    if error.validator == "additionalProperties":
        return "unknown key (not in the schema; check the spelling)"
    if error.validator == "required":
        return "required key is missing"
    if error.validator == "uniqueItems" and isinstance(error.instance, list):
        seen, repeated = [], []
        for item in error.instance:
            if item in seen and item not in repeated:
                repeated.append(item)
            seen.append(item)
        names = ", ".join(repr(r) for r in repeated)
        return f"{names} listed more than once (each entry once)"
    return error.message + _hint(error)


def _non_finite(value, at: tuple = ()) -> list[str]:
    """Keys whose value is YAML's .nan or .inf: JSON schema's number bounds let them through
    (every comparison with nan is false) and no key of the study means an infinite value."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return [f"config key '{'.'.join(map(str, at))}': {value} is not a finite number"]
    if isinstance(value, Mapping):
        return [m for k, v in value.items() for m in _non_finite(v, (*at, k))]
    if isinstance(value, (list, tuple)):
        return [
            m for i, v in enumerate(value) for m in _non_finite(v, (*at[:-1], f"{at[-1]}[{i}]") if at else (f"[{i}]",))
        ]
    return []


def _specific(error):
    """For a value matching none of a oneOf's forms, the error of the form it came closest to
    (e.g. ``study.devices[0]: 'tpu' is not one of ['cpu', 'cuda']``, not "valid under none")."""
    import jsonschema

    if error.validator in ("oneOf", "anyOf") and error.context:
        context = list(error.context)
        if isinstance(error.instance, Mapping):
            # the branch sharing most keys with what was written (a served cell given as J per request
            # that lacks latency_p95_ms is blamed for that, not for j_per_request being unknown elsewhere)
            branches = error.validator_value

            def overlap(e):
                props = branches[e.relative_schema_path[0]].get("properties", {})
                return len(set(error.instance) & set(props))

            best = max(overlap(e) for e in context)
            context = [e for e in context if overlap(e) == best]
        same_type = [e for e in context if e.validator not in ("type", "const")]
        return _specific(jsonschema.exceptions.best_match(same_type or context))
    return error


def _hint(error) -> str:
    """What YAML made of a value that looks right to its writer."""
    import datetime as dt
    import re

    value, expected = error.instance, error.validator_value if error.validator == "type" else None
    if isinstance(value, (dt.date, dt.datetime)):
        return f" (YAML read an unquoted date: quote it, '{value.isoformat()}')"
    if (
        isinstance(value, str)
        and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip())
        and expected in ("number", "integer")
    ):
        return f" (YAML 1.1 reads {value} as text: write it with a dot, {float(value)!r})"
    if isinstance(value, str) and expected == "array":
        return f" (a list: [{value}])"
    parent = error.parent if error.parent is not None and error.parent.validator == "oneOf" else error
    if (
        parent.validator == "oneOf"
        and list(parent.absolute_path) == list(error.absolute_path)  # the value itself, not an item of a list
        and isinstance(value, str)
        and any(s.get("type") == "array" for s in parent.validator_value if isinstance(s, Mapping))
    ):
        return f" (or a list: [{value}])"
    return ""


def schema_errors(config: Mapping[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> list[str]:
    import jsonschema  # imported here: the GPU kit runs where only the library's core dependencies are

    from greenbench.config.options import assemble_schema

    schema = assemble_schema(yaml.safe_load(Path(schema_path).read_text(encoding="utf-8")))
    # formats (e.g. `format: date`) are enforced, not just annotations: '2022-02-30' or 'tomorrow' is an error
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(
        (_specific(e) for e in validator.iter_errors(config)),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    return _non_finite(config) + [f"config key '{_key_path(e)}': {_describe(e)}" for e in errors]
