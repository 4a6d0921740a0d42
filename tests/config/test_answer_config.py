"""The answer's traffic settings (issue 34): validated before any job, and the default traffic is the
routing scenario's mean rate."""

from __future__ import annotations

import pytest

from greenbench.config.load import ConfigError, load_config, validate_config
from greenbench.pipeline import wiring

from conftest import REPO


def _config(**answer):
    cfg = load_config([REPO / "config" / "config.yaml"])
    cfg["answer"].update(answer)
    return cfg


def test_the_default_traffic_is_the_routing_scenarios_mean_rate():
    cfg = _config()
    assert cfg["answer"]["traffic"] is None and cfg["answer"]["max_wait_ms"] == 50
    settings = wiring.answer(cfg)
    assert settings["answer"]["traffic"] == pytest.approx(cfg["carbon"]["schedule"]["mean_requests_per_hour"] / 3600)
    assert settings["first_stage"] == cfg["energy"]["trials"]
    assert wiring.answer(_config(traffic=12.5))["answer"]["traffic"] == 12.5
    cfg["carbon"]["schedule"]["mean_requests_per_hour"] = 7200
    assert wiring.answer(cfg)["answer"]["traffic"] == 2
    assert "answer" not in wiring.paper(cfg)  # the page renders the answer's tables, with their settings


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("traffic", 0, "'answer.traffic': 0 is less than or equal to the minimum of 0"),
        ("traffic", "busy", "'answer.traffic': 'busy' is not of type 'null', 'number'"),
        ("traffic_levels", [], "'answer.traffic_levels': [] should be non-empty"),
        ("traffic_levels", [3, -1], "'answer.traffic_levels.1': -1 is less than or equal to the minimum of 0"),
        ("max_wait_ms", -5, "'answer.max_wait_ms': -5 is less than the minimum of 0"),
        ("max_utilisation", 1.2, "'answer.max_utilisation': 1.2 is greater than the maximum of 1"),
    ],
)
def test_bad_traffic_settings_are_refused_naming_their_key(key, value, message):
    with pytest.raises(ConfigError, match="invalid greenbench config") as error:
        validate_config(_config(**{key: value}), files=False)
    assert message in str(error.value)


def test_null_wait_and_given_traffic_are_valid():
    cfg = validate_config(_config(max_wait_ms=None, traffic=3.0), files=False)
    assert cfg["answer"]["max_wait_ms"] is None and cfg["answer"]["traffic"] == 3
