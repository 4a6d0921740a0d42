import subprocess
import sys

import pytest

from greenbench.config import ConfigError, deep_merge, load_config, validate_config

from conftest import REPO


def merged(*names):
    return load_config([REPO / "config" / "config.yaml", *(REPO / "config" / n for n in names)])


@pytest.mark.parametrize("extra", [[], ["smoke.yaml"], ["paper.yaml"]])
def test_shipped_configs_are_valid(extra):
    validate_config(merged(*extra))


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["finetune"].update(epoch=1), "finetune.epoch"),                 # unknown key
        (lambda c: c["finetune"].update(epochs="two"), "finetune.epochs"),          # wrong type
        (lambda c: c["finetune"].update(learning_rate=-1.0), "finetune.learning_rate"),  # wrong value
        (lambda c: c["study"].update(devices=["tpu"]), "study.devices.0"),
        (lambda c: c.pop("seed"), "seed"),                                          # missing
        (lambda c: c["models"]["minilm"].update(source="ftp://x"), "models.minilm.source"),
        (lambda c: c["study"].update(models=["nope"]), "study.models[0]"),          # undefined model
        (lambda c: c["study"].update(variants=["fp7"]), "study.variants[0]"),       # unknown variant
        (lambda c: c["carbon"]["schedule"]["scenarios"].update(x={"zones": ["NL"]}),
         "carbon.schedule.scenarios.x.zones"),                                      # zone without traces
        (lambda c: c["carbon"]["schedule"].update(scenarios=["europe"]), "carbon.schedule.scenarios"),  # old list form
    ],
)
def test_bad_config_names_the_key(mutate, key):
    cfg = merged()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"'{key}'" in str(err.value)


def test_deep_merge_merges_mappings_and_replaces_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    out = deep_merge(base, {"a": {"c": [3]}, "e": 2})
    assert out == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base["a"]["c"] == [1, 2]  # inputs untouched


def test_cli_rejects_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluate:\n  batch_size: 0\n")
    proc = subprocess.run([sys.executable, "-m", "greenbench", "validate-config", "--config", str(bad)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "'evaluate.batch_size'" in proc.stderr


def test_load_config_reports_yaml_errors(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config([bad])
