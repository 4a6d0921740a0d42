"""What each job reads: narrow, canonical params (the rerun matrix in test_workflow checks the DAG)."""


from hypothesis import given
from hypothesis import strategies as st

from greenbench.pipeline import wiring
from greenbench.config.load import load_config

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

    from greenbench.pipeline.dag import _imported, _module_file

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
    from greenbench.pipeline.dag import module_closure, plugin_files

    assert module_closure("src", "scripts/prepare_dataset.py") == [
        "src/greenbench/__init__.py", "src/greenbench/core/__init__.py", "src/greenbench/core/io.py",
        "src/greenbench/core/log.py", "src/greenbench/core/provenance.py", "src/greenbench/data/__init__.py",
        "src/greenbench/data/sst2.py"]
    build = module_closure("src", "scripts/build_variant.py")
    assert not any("carbon" in f for f in build)
    # no recipe family or runtime module is an input of every build: each job adds its own cells' (cell_lib)
    assert not any(f.endswith(("spiking.py", "pruning.py", "onnx.py", "compile.py")) for f in build)
    # the adaptive recipe imports greenbench.cells.inference inside a function: still an input of its jobs
    assert "src/greenbench/cells/inference.py" in plugin_files("src", ["greenbench.cells.variants.adaptive"])
    assert "src/greenbench/carbon/forecasting.py" in module_closure("src", "scripts/forecast_hourly.py")


def test_validated_config_has_integral_floats_as_ints():
    from greenbench.config.load import validate_config

    cfg = load_config(["config/config.yaml"])
    cfg["energy"]["trials"] = 2.0  # valid JSON-schema integer; range(2.0) would raise in the DAG
    out = validate_config(cfg)
    assert out["energy"]["trials"] == 2 and isinstance(out["energy"]["trials"], int)
    assert isinstance(out["variants"]["recovery"]["learning_rate"], float)


def test_a_cell_depends_on_its_own_plugin_modules_only():
    """Editing one recipe or runtime module reruns only the jobs of the cells that use it."""
    from greenbench.cells.variants import MODULE_OF, REGISTRY, cell_modules
    from greenbench.cells.runtimes import MODULE_OF as RUNTIME_MODULE_OF, RUNTIMES
    from greenbench.pipeline.dag import plugin_files

    assert set(MODULE_OF) == set(REGISTRY) and set(RUNTIME_MODULE_OF) == set(RUNTIMES)
    assert cell_modules("spiking") == ["greenbench.cells.variants.spiking"]
    assert cell_modules("prune_heads25@onnxruntime") == ["greenbench.cells.variants.pruning",
                                                         "greenbench.cells.runtimes.onnx"]
    # a runtime module that imports another does not claim its runtimes
    assert RUNTIME_MODULE_OF["torch_compile"] == "greenbench.cells.runtimes.compile"
    assert RUNTIME_MODULE_OF["aot_inductor"] == "greenbench.cells.runtimes.aot"
    spiking = plugin_files("src", cell_modules("spiking"))
    assert "src/greenbench/cells/variants/spiking.py" in spiking
    assert "src/greenbench/cells/variants/trained.py" in spiking  # the shared recovery code it uses
    assert not any(f.endswith(("pruning.py", "quantization.py", "onnx.py")) for f in spiking)
