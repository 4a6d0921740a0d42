"""What each job reads: narrow, canonical params (the rerun matrix in test_workflow checks the DAG)."""

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from greenbench.pipeline import wiring
from greenbench.config.load import load_config

CONFIG = load_config(["config/config.yaml"])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


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
    assert spiking["recovery"]["train_subset"] == 20000 and spiking["recovery"]["epochs"] == 1  # override merged
    assert "pruning" not in spiking


def test_a_trial_reads_the_protocol_not_the_trial_count():
    protocol = wiring.energy_protocol(CONFIG)
    assert "trials" not in protocol and protocol["window_s"] == CONFIG["energy"]["window_s"]


def test_builds_read_only_the_finetune_keys_they_declare():
    assert wiring.build_finetune(CONFIG, "adaptive") == {"train_subset": CONFIG["finetune"]["train_subset"]}
    # a recovery's held-out slice leaves out the fine-tune's draw, so its builds read the draw's size
    assert wiring.build_finetune(CONFIG, "prune_heads50") == {"train_subset": CONFIG["finetune"]["train_subset"]}
    assert wiring.build_finetune(CONFIG, "fp32") == {}


def test_the_finetune_forecasters_and_energy_trials_run_alone_and_every_other_compute_job_shares():
    config = {**CONFIG, "compute": {"threads": 4, "shared_threads": 1}}
    alone = [("finetune", None), ("forecast_carbon", None), ("measure_energy", None)]
    for job, variant in alone:
        assert wiring.threads(config, job) == 4, job
    recoveries = [("build_variant", "spiking"), ("build_variant", "prune_ffn25")]
    shared = [("evaluate", None), ("teacher_logits", None), ("forecast_hourly", None), *recoveries]
    shared += [
        ("build_variant", v) for v in ("adaptive", "int8_static@openvino", "prune_ffn25+int8_dynamic@onnxruntime")
    ]
    for job, variant in shared:
        assert wiring.threads(config, job) == 1, (job, variant)
    assert wiring.threads({**config, "compute": {"threads": 2, "shared_threads": 2}}, "evaluate") == 2
    # the fine-tune first (every model job waits for it), then a lone job before shared ones ready beside
    # it, then the recoveries and the teacher logits they wait for, then the rest
    assert [wiring.priority(config, job, variant) for job, variant in alone] == [3, 2, 2]
    assert {wiring.priority(config, job, variant) for job, variant in recoveries} == {1}
    assert wiring.priority(config, "teacher_logits") == 1
    assert {wiring.priority(config, job, variant) for job, variant in shared if (job, variant) not in recoveries} - {
        wiring.priority(config, "teacher_logits")
    } == {0}
    # a rewrite without recovery trains nothing: no head start
    no_recovery = {
        **config,
        "variants": {**config["variants"], "recovery": {**config["variants"]["recovery"], "epochs": 0}},
    }
    assert wiring.priority(no_recovery, "build_variant", "prune_ffn25") == 0


def test_only_the_carbon_table_reads_the_grids_and_the_routing_reads_no_carbon_setting():
    """A grid intensity edit reruns the carbon table (and its readers), never the other statistics or the
    cell the routing serves; the answer's grid and traffic levels do not decide that cell either."""
    assert "grid_intensities" not in wiring.aggregate(CONFIG)["stats"]
    assert set(wiring.aggregate(CONFIG)["stats"]) == {"bootstrap", "confidence", "first_stage", "targets"}
    carbon = wiring.carbon_table(CONFIG)
    assert carbon == wiring.canonical(
        {
            "stats": {k: CONFIG["stats"][k] for k in ("bootstrap", "confidence", "grid_intensities")},
            "seed": CONFIG["seed"],
        }
    )
    served = wiring.served_cell(CONFIG)["answer"]
    assert set(served) == set(wiring.SERVED_CELL_KEYS) and not {"grid", "traffic_levels"} & set(served)
    assert {k: wiring.answer(CONFIG)["answer"][k] for k in served} == served  # the answer's traffic, resolved
    edited = {**CONFIG, "stats": {**CONFIG["stats"], "grid_intensities": {"DE": 400}}}
    changed = [
        name
        for name in ("aggregate", "carbon_table", "answer", "served_cell", "paper", "figures")
        if getattr(wiring, name)(edited) != getattr(wiring, name)(CONFIG)
    ]
    assert changed == ["carbon_table"]


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
        graph[name] = {
            m
            for m in _imported(ast.parse(file.read_text()), package, src)
            if _module_file(src, m) is not None and m != name
        }
    return graph


def test_no_import_cycles_between_modules():
    graph = _module_graph()
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
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
        "src/greenbench/__init__.py",
        "src/greenbench/core/__init__.py",
        "src/greenbench/core/host.py",
        "src/greenbench/core/io.py",
        "src/greenbench/core/log.py",
        "src/greenbench/core/provenance.py",
        "src/greenbench/core/scratch.py",
        "src/greenbench/core/textfiles.py",
        "src/greenbench/data/__init__.py",
        "src/greenbench/data/sst2.py",
        "src/greenbench/pipeline/__init__.py",
        "src/greenbench/pipeline/stages/__init__.py",
        "src/greenbench/pipeline/stages/prepare_dataset.py",
    ]
    build = module_closure("src", "scripts/build_variant.py")
    assert not any(f.startswith("src/greenbench/carbon/") for f in build)  # (meters/cpu/codecarbon.py is a meter)
    # no recipe family or runtime module is an input of every build: each job adds its own cells' (cell_lib)
    assert not any(f.endswith(("spiking.py", "pruning.py", "onnx.py", "compile.py")) for f in build)
    # the adaptive recipe imports greenbench.cells.inference inside a function: still an input of its jobs
    assert "src/greenbench/cells/inference.py" in plugin_files("src", ["greenbench.cells.variants.adaptive"])
    assert "src/greenbench/carbon/forecasting.py" in module_closure("src", "scripts/forecast_hourly.py")
    # the trials import the stopping plan, not the statistics: editing a statistic re-measures no energy
    trials = module_closure("src", "scripts/measure_energy.py")
    assert "src/greenbench/measure/energy/plan.py" in trials
    assert not {"src/greenbench/analysis/summaries.py", "src/greenbench/analysis/paired_accuracy.py"} & set(trials)


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
    assert cell_modules("prune_heads25@onnxruntime") == [
        "greenbench.cells.variants.pruning",
        "greenbench.cells.runtimes.onnx",
    ]
    # a runtime module that imports another does not claim its runtimes
    assert RUNTIME_MODULE_OF["torch_compile"] == "greenbench.cells.runtimes.compile"
    assert RUNTIME_MODULE_OF["aot_inductor"] == "greenbench.cells.runtimes.aot"
    spiking = plugin_files("src", cell_modules("spiking"))
    assert "src/greenbench/cells/variants/spiking.py" in spiking
    assert "src/greenbench/cells/variants/trained.py" in spiking  # the shared recovery code it uses
    assert not any(f.endswith(("pruning.py", "quantization.py", "onnx.py")) for f in spiking)


# --------------------------------------------------------------------------- one wiring: rule = script = stage = wiring
TARGETS = {"all", "carbon"}  # rules that only name targets: no script, no params, no output
STAGES = sorted(p.stem for p in Path("src/greenbench/pipeline/stages").glob("*.py") if p.stem != "__init__")


def _rules() -> dict[str, str]:
    """Every rule of the workflow (Snakefile and rules/*.smk) -> its body (the indented lines under it)."""
    import re

    rules = {}
    for file in [Path("workflow/Snakefile"), *sorted(Path("workflow/rules").glob("*.smk"))]:
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", file.read_text(), re.M):
            assert m.group(1) not in rules, f"rule {m.group(1)} defined twice"
            rules[m.group(1)] = m.group(2)
    return rules


def _directive(body: str, name: str) -> str | None:
    """A rule directive's text (its own line's rest and the lines indented under it), or None."""
    import re

    m = re.search(rf"^    {name}:(.*)\n((?:        .*\n|\s*\n)*)", body, re.M)
    return None if m is None else m.group(1) + "\n" + m.group(2)


def test_every_rule_runs_the_stage_named_like_it_through_a_thin_script_named_like_it():
    import ast

    rules = _rules()
    steps = {name for name, body in rules.items() if _directive(body, "script") is not None}
    assert set(rules) - steps == TARGETS
    for name in TARGETS:
        assert not any(_directive(rules[name], d) for d in ("output", "params", "shell", "run")), name
    assert sorted(steps) == STAGES == sorted(p.stem for p in Path("scripts").glob("*.py"))
    for name in sorted(steps):
        body = rules[name]
        assert _directive(body, "script").strip() == f'"../../scripts/{name}.py"', name
        lib = _directive(body, "input") or ""
        assert "lib=" not in lib or f'lib("{name}")' in lib or f'cell_lib("{name}")' in lib, name
        # a compute job (a footprint row among its outputs) is measured by `tracked`, labelled with its name
        wrapper = (
            f'with tracked(snakemake, "{name}"):'
            if "footprint=paths.footprint_of(" in body
            else f'with logged_script(snakemake.log[0], "{name}"):'
        )
        script = Path(f"scripts/{name}.py").read_text()
        assert f"from greenbench.pipeline.stages import {name} as stage\n" in script, name
        assert f"{wrapper}\n    stage.run(snakemake)\n" in script, name
        assert len(ast.parse(script).body) == 4, name  # docstring, the stage, the wrapper, the call
    from greenbench.analysis.study_cost import STAGES as COST_STAGES

    assert set(COST_STAGES) == {n for n in steps if "footprint=paths.footprint_of(" in rules[n]}


def test_no_rule_reads_the_config_in_its_params_only_the_wiring_slice_named_like_it():
    """A rule's params are ``settings=wiring.<rule>(config, ...)`` or none (it reads no key), and its
    stage reads ``job.params.settings`` only: one place says what a job reads."""
    import re

    for name, body in _rules().items():
        params = _directive(body, "params")
        stage = Path(f"src/greenbench/pipeline/stages/{name}.py")
        reads = set(re.findall(r"params\.(\w+)", stage.read_text())) if stage.exists() else set()
        if params is None:
            assert not reads, name
            continue
        assert "config[" not in params, (name, params)
        entries = [line.strip() for line in params.splitlines() if line.strip() and not line.strip().startswith("#")]
        assert len(entries) == 1 and re.fullmatch(
            rf"settings=(lambda w: )?wiring\.{name}\(config(, w\.\w+)?\),", entries[0]
        ), (name, entries)
        assert callable(getattr(wiring, name)) and reads == {"settings"}, name


def test_every_stage_has_a_cli_subcommand_or_is_documented_workflow_only():
    """A step's subcommand is its name with '-' for '_' (or a subcommand that runs several steps,
    ``cli.RUNS``); the steps no subcommand runs are ``cli.WORKFLOW_ONLY``, said in ``--help`` and docs."""
    import argparse
    import inspect

    from greenbench.tools import cli

    parser = cli.build_parser()
    commands = set(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)
    own = {s for s in STAGES if s.replace("_", "-") in commands}
    grouped = {s for steps in cli.RUNS.values() for s in steps}
    assert set(cli.RUNS) <= commands and grouped <= set(STAGES) and set(cli.WORKFLOW_ONLY) <= set(STAGES)
    assert not (own | grouped) & set(cli.WORKFLOW_ONLY)
    assert own | grouped | set(cli.WORKFLOW_ONLY) == set(STAGES)
    source = inspect.getsource(cli)
    for step in own | grouped:  # driven through the stage module, as the rule's script does
        assert re.search(rf'_run\(\s*"{step}"', source), step
    help_text, docs = parser.format_help(), Path("docs/reproducibility.md").read_text()
    for step in cli.WORKFLOW_ONLY:
        assert step in help_text and f"`{step}`" in docs, step
