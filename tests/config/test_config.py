import subprocess
import sys
from pathlib import Path

import yaml

import pytest

from greenbench.config.load import ConfigError, deep_merge, load_config, validate_config

from conftest import REPO


def merged(*names):
    return load_config([REPO / "config" / "config.yaml", *(REPO / "config" / n for n in names)])


@pytest.mark.parametrize("extra", [[], ["smoke.yaml"], ["paper.yaml"]])
def test_shipped_configs_are_valid(extra, monkeypatch):
    # the paper's hub models are fetched at run time: valid where the hub is reachable (offline, uncached
    # models are refused before any job: tests/config/test_bad_input.py)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    validate_config(merged(*extra))


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["finetune"].update(epoch=1), "finetune.epoch"),  # unknown key
        (lambda c: c["finetune"].update(epochs="two"), "finetune.epochs"),  # wrong type
        (lambda c: c["finetune"].update(learning_rate=-1.0), "finetune.learning_rate"),  # wrong value
        (lambda c: c["study"].update(devices=["tpu"]), "study.devices.0"),
        (lambda c: c.pop("seed"), "seed"),  # missing
        (lambda c: c["models"]["minilm"].update(source="ftp://x"), "models.minilm.source"),
        (lambda c: c["study"].update(models=["nope"]), "study.models[0]"),  # undefined model
        (lambda c: c["study"].update(variants=["fp7"]), "study.variants[0]"),  # unknown variant
        (
            lambda c: c["carbon"]["schedule"]["scenarios"].update(x={"zones": ["NL"]}),
            "carbon.schedule.scenarios.x.zones",
        ),  # zone without traces
        (lambda c: c["carbon"]["schedule"].update(scenarios=["europe"]), "carbon.schedule.scenarios"),  # old list form
        (lambda c: c["energy"].update(paddings={"cpu": ["dynamic"]}), "energy.paddings.cuda"),  # per device: both
        (lambda c: c["energy"].update(paddings={"cpu": ["wide"], "cuda": ["fixed"]}), "energy.paddings.cpu.0"),
    ],
)
def test_bad_config_names_the_key(mutate, key):
    cfg = merged()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"'{key}'" in str(err.value)


def _fc(**kw):
    return lambda c: c["carbon"]["forecast"].update(**kw)


def _sched(**kw):
    return lambda c: c["carbon"]["schedule"].update(**kw)


def _served_cell(c, **kw):
    """Serve a measured cell (the smoke study's int8 at batch 8) with ``kw`` changed."""
    cell = {"variant": "int8_dynamic", "batch_size": 8, "padding": "dynamic", "mode": "eager", "device": "cpu"}
    c["carbon"]["schedule"]["energy"] = {**cell, **kw}


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (_fc(test_end="tomorrow"), "carbon.forecast.test_end", "date"),
        (_fc(test_end="2022-02-30"), "carbon.forecast.test_end", "date"),
        (_fc(train_start="2021/01/01"), "carbon.forecast.train_start", "date"),
        (_sched(start="2022-13-01"), "carbon.schedule.start", "date"),
        (_fc(train_end="2020-12-01"), "carbon.forecast.train_end", "after"),
        (_fc(test_end="2021-12-01"), "carbon.forecast.test_end", "after"),
        (_fc(test_start="2021-06-01"), "carbon.forecast.test_start", "after"),
        (_fc(calibration_days=400), "carbon.forecast.calibration_days", "nothing to fit"),
        (_fc(test_end="2023-03-01"), "carbon.forecast.test_end", "outside the traces"),
        (_sched(start="2022-12-28"), "carbon.schedule.days", "past the traces"),
        (_sched(start="2021-01-02", static_from="2021-01-01"), "carbon.schedule.start", "history"),
        (_sched(static_from="2022-03-01"), "carbon.schedule.static_from", "before"),
        (lambda c: c["carbon"].update(years=[2022]), "carbon.forecast.train_start", "outside the traces"),
        (
            lambda c: _served_cell(c, variant="topk8_ft"),
            "carbon.schedule.energy.variant",
            "not measured",
        ),
        (
            lambda c: _served_cell(c, batch_size=3),
            "carbon.schedule.energy.batch_size",
            "not measured",
        ),
        (
            lambda c: _served_cell(c, device="cuda"),
            "carbon.schedule.energy.device",
            "not measured",
        ),
        (lambda c: _served_cell(c, mode="cuda_graph"), "carbon.schedule.energy.mode", "cuda"),
        (
            lambda c: c["carbon"]["schedule"].update(origin_shares={z: 0 for z in c["carbon"]["zones"]}),
            "carbon.schedule.origin_shares",
            "every share is 0",
        ),
        # per-device paddings: the served cell's padding must be measured on its own device
        (
            lambda c: (
                c["energy"].update(paddings={"cpu": ["dynamic"], "cuda": ["fixed"]}),
                _served_cell(c, padding="fixed"),
            ),
            "carbon.schedule.energy.padding",
            "not measured",
        ),
        # sequential stopping: Stein's first stage needs two trials, and the cap cannot undercut it
        (lambda c: c["energy"].update(trials=1), "energy.trials", "at least 2 trials"),
        (lambda c: c["energy"]["stopping"].update(max_trials=1), "energy.stopping.max_trials", "below energy.trials"),
    ],
)
def test_dates_windows_and_the_served_cell_are_checked_before_any_job(mutate, key, words, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = merged("smoke.yaml")
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    message = str(err.value)
    assert f"'{key}'" in message and words in message, message


def test_zone_tables_and_the_served_cell_are_replaced_whole_not_merged(tmp_path):
    from greenbench.config.load import load_config, replace_tables

    user = tmp_path / "grid.yaml"
    user.write_text(
        "carbon:\n  schedule:\n    origin_shares: {BE: 1}\n    scenarios: {mine: {}}\n"
        "    energy: {j_per_request: 0.3, latency_p50_ms: 20, latency_p95_ms: 40}\n    pue: 1.4\n"
    )
    files = load_config(["config/config.yaml", user])
    sched = files["carbon"]["schedule"]
    assert sched["origin_shares"] == {"BE": 1} and list(sched["scenarios"]) == ["mine"]
    assert sched["energy"] == {"j_per_request": 0.3, "latency_p50_ms": 20, "latency_p95_ms": 40}
    assert sched["pue"] == 1.4 and sched["slo_ms"] == 80  # settings still merge

    def merge_all(base, over):  # Snakemake's own merge: every nested mapping merges
        out = dict(base)
        for k, v in over.items():
            out[k] = merge_all(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    snakemake_merge = merge_all(load_config(["config/config.yaml"]), load_config([user]))  # keeps DE..PL rows
    assert set(snakemake_merge["carbon"]["schedule"]["origin_shares"]) > {"BE"}
    assert replace_tables(snakemake_merge, files)["carbon"]["schedule"]["origin_shares"] == {"BE": 1}


@pytest.mark.parametrize(
    "mutate, key",
    [
        (
            lambda s: s["scenarios"].update(far={"origin_shares": {"DE": 1, "XX": 1}}),
            "carbon.schedule.scenarios.far.latency_ms",
        ),
        (
            lambda s: s["scenarios"].update(none={"origin_shares": {"DE": 0}}),
            "carbon.schedule.scenarios.none.origin_shares",
        ),
        (
            lambda s: s["scenarios"].update(x={"latency_ms": {"DE": {"DE": 5}}}),
            "carbon.schedule.scenarios.x.latency_ms",
        ),
        (lambda s: s["scenarios"].update(x={"slo_ms": 0}), "carbon.schedule.scenarios.x.slo_ms"),
        (
            lambda s: s.update(energy={"j_per_request": 0.3, "latency_p50_ms": 50, "latency_p95_ms": 40}),
            "carbon.schedule.energy.latency_p95_ms",
        ),
        (lambda s: s.update(energy={"j_per_request": 0.3, "latency_p50_ms": 50}), "carbon.schedule.energy"),
    ],
)
def test_scenario_overrides_and_a_given_served_cell_are_checked_before_any_job(mutate, key):
    cfg = merged()
    mutate(cfg["carbon"]["schedule"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"'{key}" in str(err.value), str(err.value)


def test_a_given_served_cell_needs_no_measurement():
    from greenbench.carbon.routing import energy_per_request

    cfg = merged()
    cfg["carbon"]["schedule"]["energy"] = {"j_per_request": 0.3, "latency_p50_ms": 20, "latency_p95_ms": 40}
    validate_config(cfg)
    assert energy_per_request(None, cfg["carbon"]["schedule"]["energy"]) == (0.3, 20.0, 40.0, "given")


def test_the_routing_serves_the_answer_by_default_and_a_cell_or_given_values_on_request(monkeypatch):
    import torch

    from greenbench.carbon.served import energy_is_given, serves_answer

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = merged("smoke.yaml")
    assert serves_answer(cfg["carbon"]["schedule"]["energy"]) and not energy_is_given("answer")
    validate_config(cfg)
    _served_cell(cfg)  # an explicit measured cell still validates
    validate_config(cfg)
    cfg["carbon"]["schedule"]["energy"] = "best"  # the only word is `answer`
    with pytest.raises(ConfigError, match="carbon.schedule.energy"):
        validate_config(cfg)
    # a later file's cell replaces `answer` whole, and `answer` replaces a cell whole
    assert deep_merge(cfg, {"carbon": {"schedule": {"energy": {"j_per_request": 1.0}}}})["carbon"]["schedule"][
        "energy"
    ] == {"j_per_request": 1.0}
    assert deep_merge(cfg, {"carbon": {"schedule": {"energy": "answer"}}})["carbon"]["schedule"]["energy"] == "answer"


def test_deep_merge_merges_mappings_and_replaces_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    out = deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert out == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base["a"]["c"] == [1, 2]  # inputs untouched


def test_cli_rejects_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluate:\n  batch_size: 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "greenbench", "validate-config", "--config", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "'evaluate.batch_size'" in proc.stderr


def test_load_config_reports_yaml_errors(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config([bad])


def test_a_key_given_twice_is_an_error_naming_file_and_lines(tmp_path):
    dup = tmp_path / "dup.yaml"
    dup.write_text("energy:\n  trials: 2\n  idle_s: 1.0\n  trials: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config([dup])
    assert str(dup) in str(err.value) and "'trials' is given twice (first on line 2)" in str(err.value)
    assert "line 4" in str(err.value)


def test_a_later_files_runtime_axis_replaces_the_earlier_one_whole(tmp_path):
    (tmp_path / "eager.yaml").write_text("study: {variants: [fp32, int8_dynamic], runtimes: {}}\n")
    (tmp_path / "one.yaml").write_text("study: {runtimes: {torch_compile: [fp32]}}\n")
    base = [REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml"]
    assert validate_config(load_config([*base, tmp_path / "eager.yaml"]))["study"]["variants"] == [
        "fp32",
        "int8_dynamic",
    ]
    cells = validate_config(load_config([*base, tmp_path / "one.yaml"]))["study"]["variants"]
    assert [c for c in cells if "@" in c] == ["fp32@torch_compile"]


def test_plugin_options_defaults_schema_and_readme_stay_in_step():
    """Each recipe and runtime declares its options once (greenbench.config.options): config.yaml lists
    exactly the declared defaults, config/README.md the generated table, the schema the declared types."""
    from greenbench.config import options as opts
    from greenbench.pipeline.wiring import canonical

    cfg = load_config(["config/config.yaml"])
    declared = opts.declared()
    assert {o.key for o in declared} >= {
        "variants.adaptive",
        "variants.recovery",
        "variants.pruning",
        "variants.spiking",
        "runtimes.onnxruntime",
        "runtimes.torch_compile",
        "runtimes.aot_inductor",
        "carbon.forecast.tcn",
    }
    for o in declared:
        given = opts.given(cfg, o)
        if given is not None:  # listed in config.yaml: with the declared defaults, no key more or less
            assert canonical(given) == canonical(o.defaults()), o.key
    readme = Path("config/README.md").read_text(encoding="utf-8")
    assert opts.readme_with_table(readme) == readme, "regenerate: python -m greenbench.config.options"
    for o in declared:  # every declared block's schema accepts its defaults
        import jsonschema

        schema = opts.assemble_schema(yaml.safe_load(Path("workflow/schemas/config.schema.yaml").read_text()))
        node = schema
        for part in o.path:
            node = node["properties"][part]
        block = {"$defs": schema["$defs"], **node}
        jsonschema.validate(o.defaults(), block)


def test_a_config_without_a_plugin_block_gets_its_defaults_and_a_bad_option_names_its_key():
    from greenbench.config.options import OPTIONS

    cfg = load_config(["config/config.yaml"])
    del cfg["variants"]["pruning"], cfg["runtimes"]["onnxruntime"]
    out = validate_config(cfg, files=False)
    assert out["variants"]["pruning"] == {"importance_batches": 32, "min_ffn_fraction": 0.1}
    assert out["runtimes"]["onnxruntime"] == OPTIONS["runtimes.onnxruntime"].defaults()
    cfg["variants"]["pruning"] = {"importance_batches": 0, "min_ffn_fraction": 0.1}
    with pytest.raises(ConfigError, match=r"variants\.pruning\.importance_batches"):
        validate_config(cfg, files=False)
    assert OPTIONS["runtimes.onnxruntime"].resolve({"fuse": False})["exporter"] == "torchscript"


def test_the_schedule_forecaster_is_one_the_registry_builds():
    cfg = load_config(["config/config.yaml"])
    cfg["carbon"]["schedule"]["forecaster"] = "ridge"
    validate_config(cfg, files=False)
    cfg["carbon"]["forecast"]["ridge_alpha"] = [30.0, 3.0]
    cfg["carbon"]["schedule"]["forecaster"] = "ridge_a3"  # a candidate the config makes, named by the registry
    validate_config(cfg, files=False)
    cfg["carbon"]["schedule"]["forecaster"] = "prophet"
    with pytest.raises(
        ConfigError, match=r"carbon\.schedule\.forecaster': 'prophet' is not one of .*known: selected, "
    ):
        validate_config(cfg, files=False)


def test_list_hints_and_repeats_are_said_as_they_are():
    cfg = merged()
    cfg["study"].update(devices=["tpu"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert "'tpu' is not one of" in str(err.value) and "or a list" not in str(err.value)  # it is a list already
    cfg = merged()
    cfg["study"].update(devices="tpu")
    with pytest.raises(ConfigError, match=r"or a list: \[tpu\]"):
        validate_config(cfg)
    cfg = merged()
    cfg["study"].update(variants=["fp32", "int8_dynamic", "fp32", "spiking", "int8_dynamic"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    message = str(err.value)
    assert "'fp32', 'int8_dynamic' listed more than once" in message and "spiking" not in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "# a\n\n# b\n"])
def test_an_empty_or_comment_only_config_file_is_refused_naming_the_file(tmp_path, text):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"mine.yaml: empty config file"):
        load_config([REPO / "config" / "config.yaml", path])
    out = subprocess.run(
        [sys.executable, "-m", "greenbench", "validate-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode != 0 and "mine.yaml: empty config file" in out.stderr and "Traceback" not in out.stderr
