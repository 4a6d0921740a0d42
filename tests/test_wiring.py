"""What each job reads: narrow, canonical params (the rerun matrix in test_workflow checks the DAG)."""

from hypothesis import given
from hypothesis import strategies as st

from greenbench import wiring
from greenbench.config import load_config

CONFIG = load_config(["config/config.yaml"])

json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                           max_leaves=20)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=6))
def test_canonical_is_independent_of_key_order_and_idempotent(mapping):
    reordered = dict(reversed(list(mapping.items())))
    assert repr(wiring.canonical(mapping)) == repr(wiring.canonical(reordered))
    assert wiring.canonical(wiring.canonical(mapping)) == wiring.canonical(mapping)


def test_canonical_normalises_integral_floats_only():
    assert repr(wiring.canonical({"b": 2.0, "a": [3.0, 0.5, 1e-4]})) == "{'a': [3, 0.5, 0.0001], 'b': 2}"


def test_a_variant_reads_its_block_and_only_the_shared_blocks_it_declares():
    assert wiring.variant_params(CONFIG, "fp32") == {}
    assert wiring.variant_params(CONFIG, "int8_dynamic") == {}
    assert set(wiring.variant_params(CONFIG, "adaptive")) == set(CONFIG["variants"]["adaptive"])
    assert set(wiring.variant_params(CONFIG, "magnitude50")) == {"recovery"}
    assert set(wiring.variant_params(CONFIG, "prune_heads50")) == {"recovery", "pruning"}
    spiking = wiring.variant_params(CONFIG, "spiking")
    assert spiking["recovery"]["train_subset"] == 8000 and spiking["recovery"]["epochs"] == 1  # override merged
    assert "pruning" not in spiking


def test_a_trial_reads_the_protocol_not_the_trial_count():
    protocol = wiring.energy_protocol(CONFIG)
    assert "trials" not in protocol and protocol["window_s"] == CONFIG["energy"]["window_s"]


def test_builds_read_only_the_finetune_keys_they_declare():
    assert wiring.build_finetune(CONFIG, "adaptive") == {"train_subset": CONFIG["finetune"]["train_subset"]}
    assert wiring.build_finetune(CONFIG, "prune_heads50") == {}


def _module_graph():
    """greenbench module -> the greenbench modules it imports (anywhere in it, function level too)."""
    import ast
    from pathlib import Path

    from greenbench.workflow import _imported, _module_file

    src = Path("src")
    graph = {}
    for file in sorted(src.rglob("*.py")):
        parts = list(file.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        package = name if is_pkg else name.rpartition(".")[0]
        graph[name] = {m for m in _imported(ast.parse(file.read_text()), package, src)
                       if _module_file(src, m) is not None and m != name}
    return graph


def test_no_import_cycles_between_modules():
    graph = _module_graph()
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_rule_inputs_are_the_modules_a_script_really_imports():
    from greenbench.workflow import module_closure

    assert module_closure("src", "scripts/prepare_dataset.py") == [
        "src/greenbench/__init__.py", "src/greenbench/data.py", "src/greenbench/io.py", "src/greenbench/log.py",
        "src/greenbench/provenance.py"]
    build = module_closure("src", "scripts/build_variant.py")
    # the adaptive recipe imports greenbench.inference inside a function: still an input
    assert "src/greenbench/inference.py" in build and "src/greenbench/variants/spiking.py" in build
    assert not any("carbon" in f for f in build)
    assert "src/greenbench/carbon/forecast.py" in module_closure("src", "scripts/forecast_hourly.py")


def test_validated_config_has_integral_floats_as_ints():
    from greenbench.config import validate_config

    cfg = load_config(["config/config.yaml"])
    cfg["energy"]["trials"] = 2.0  # valid JSON-schema integer; range(2.0) would raise in the DAG
    out = validate_config(cfg)
    assert out["energy"]["trials"] == 2 and isinstance(out["energy"]["trials"], int)
    assert isinstance(out["variants"]["recovery"]["learning_rate"], float)
