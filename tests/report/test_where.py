"""Where and when to serve (greenbench.report.where): both baselines, the forecast's own share, grams per
year and the days that pay back the study, on small synthetic schedules; the routing claim."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.report import claims, where

POLICIES = ("nearest", "static_greenest", "forecast_greedy", "oracle", "temporal_shift", "oracle_shift")


def _schedule(scenario, grams, reroutable=6, rate=1000.0, device="cpu", weighted=(2.0, 9.0)):
    rows = [
        {
            "scenario": scenario,
            "device": device,
            "model": "tiny",
            "served": "int8_dynamic@onnxruntime batch 1, dynamic, eager",
            "policy": p,
            "weight": float("nan"),
            "g_per_1000_requests": g,
            "gap_closed": float("nan"),
            "energy_label": "measured",
            "oracle_saving_pct": float("nan"),
            "mean_requests_per_hour": rate,
            "reroutable_routes": reroutable,
        }
        for p, g in zip(POLICIES, grams)
    ]
    rows += [dict(rows[0], policy="weighted", weight=w, g_per_1000_requests=w) for w in weighted]
    return pd.DataFrame(rows)


# nearest 10, static greenest 4, forecast-greedy 3.9, oracle 3.5, temporal shift 3.0, shifting oracle 2.8
EU = _schedule("eu", (10.0, 4.0, 3.9, 3.5, 3.0, 2.8))
# the SLO allows no reroute: every spatial policy serves from the nearest zone; deferral still moves work
BLOCKED = _schedule("blocked", (5.0, 5.0, 5.0, 5.0, 4.5, 4.4), reroutable=0)


def test_both_baselines_the_forecasts_share_grams_per_year_and_payback():
    rows = where.where_and_when(pd.concat([EU, BLOCKED]), footprint_g=876.0).set_index(["scenario", "policy"])
    assert "weighted" not in rows.index.get_level_values("policy")  # the swept front is not one policy
    greedy = rows.loc[("eu", "forecast_greedy")]
    assert greedy.saving_vs_nearest_pct == pytest.approx(61.0)
    assert greedy.saving_vs_static_pct == pytest.approx(2.5)  # the forecast's own (spatial) share
    assert rows.loc[("eu", "temporal_shift"), "saving_vs_static_pct"] == pytest.approx(25.0)
    # 1,000 requests/h x 8,760 h = 8,760 thousand requests a year
    assert rows.loc[("eu", "nearest"), "g_per_year"] == pytest.approx(87_600.0)
    assert greedy.saving_vs_static_g_per_year == pytest.approx(0.1 * 8760)
    assert greedy.saving_vs_nearest_g_per_year == pytest.approx(6.1 * 8760)
    assert greedy.payback_days == pytest.approx(365.0)  # 876 g at 876 g a year
    assert not greedy.reroute_blocked and rows.loc[("blocked", "forecast_greedy"), "reroute_blocked"]
    blocked = rows.loc[("blocked", "forecast_greedy")]
    assert blocked.saving_vs_nearest_pct == 0 and math.isinf(blocked.payback_days)  # never pays back
    assert rows.loc[("blocked", "temporal_shift"), "saving_vs_static_pct"] == pytest.approx(10.0)
    assert math.isnan(where.where_and_when(EU).set_index("policy").loc["forecast_greedy", "payback_days"])
    assert where.where_and_when(None).empty and where.where_and_when(EU.iloc[:0]).empty


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.01, 100.0), min_size=6, max_size=6),
    st.floats(1.0, 1e6),
    st.floats(0.1, 1e4),
)
def test_savings_are_differences_of_the_yearly_grams_and_payback_inverts_them(grams, rate, footprint):
    rows = where.where_and_when(_schedule("x", grams, rate=rate), footprint_g=footprint).set_index("policy")
    base = rows.loc["static_greenest", "g_per_year"]
    for policy, r in rows.iterrows():
        assert r.g_per_year == pytest.approx(r.g_per_1000_requests * rate * 8.76)
        assert r.saving_vs_static_g_per_year == pytest.approx(base - r.g_per_year)
        assert r.saving_vs_nearest_g_per_year == pytest.approx(rows.loc["nearest", "g_per_year"] - r.g_per_year)
        if r.saving_vs_static_g_per_year > 0:
            assert r.payback_days * r.saving_vs_static_g_per_year / 365 == pytest.approx(footprint)
            assert r.saving_vs_static_pct > 0
        else:
            assert math.isinf(r.payback_days)


def test_the_bullets_state_blocked_reroutes_and_no_nan():
    rows = where.where_and_when(pd.concat([EU, BLOCKED]), footprint_g=876.0)
    lines = where.to_markdown_lines(rows)
    assert len(lines) == 2 and all(line.startswith("- **") for line in lines)
    eu, blocked = lines
    assert "**eu**, cpu" in eu and "int8_dynamic@onnxruntime batch 1" in eu and "1,000 requests/h" in eu
    assert "forecast-greedy 61% less" in eu and "forecast-greedy 2.5% less (876 g/year)" in eu
    assert "forecast-greedy 365 days" in eu and "nearest 87,600" in eu
    assert "forecast-greedy 0% (the SLO allows no reroute)" in blocked and "temporal shift 10% less" in blocked
    assert "forecast-greedy never" in blocked and "The SLO allows no reroute" in blocked
    assert not any("nan" in line.lower() for line in lines)
    section = where.tables_section(pd.concat([EU, BLOCKED]), _footprint())
    assert section[0].startswith("### ") and "nan%" not in "\n".join(section)
    assert "lower bound" in section[2]  # one footprint job has no energy value


def test_unavailable_grams_are_said_so():
    rows = where.where_and_when(_schedule("eu", (float("nan"),) * 6), footprint_g=10.0)
    (line,) = where.to_markdown_lines(rows)
    assert "gCO2e unavailable" in line and "nan" not in line.replace("unavailable", "")


def _footprint():
    return pd.DataFrame(
        {"energy_j": [3.6e6, 7.2e6, np.nan], "co2e_g": [400.0, 800.0, np.nan], "energy_label": ["measured"] * 3}
    )


def test_the_studys_footprint_is_its_known_jobs_total():
    assert where.study_footprint(_footprint()) == (1200.0, 1)
    assert where.study_footprint(None) == (None, 0)


@pytest.mark.parametrize(
    "value, blocked, text",
    [
        (78.4, False, "78% less"),
        (0.3, False, "0.3% less"),
        (0.0, True, "0% (the SLO allows no reroute)"),
        (0.0, False, "0%"),
        (-2.13, False, "2.1% more"),
        (float("nan"), False, "n/a"),
    ],
)
def test_percentages_read_well(value, blocked, text):
    assert where.pct(value, blocked) == text


def test_the_routing_claim_states_both_baselines_and_the_blocked_slo():
    ev = claims.Evidence(pd.DataFrame(), pd.DataFrame(), schedule=pd.concat([EU, BLOCKED], ignore_index=True))
    text, verdict = claims._carbon_aware(ev)
    assert verdict == claims.SUPPORTED  # eu supports; the blocked scenario cannot test it
    assert "61% less than nearest" in text and "2.5% less than static greenest" in text
    assert "blocked, cpu:" in text and "the SLO allows no reroute" in text and "nan" not in text
    only_blocked = claims.Evidence(pd.DataFrame(), pd.DataFrame(), schedule=BLOCKED)
    text, verdict = claims._carbon_aware(only_blocked)
    assert verdict == claims.UNTESTABLE and "0% (the SLO allows no reroute) than nearest" in text
    worse = _schedule("w", (3.0, 2.0, 3.5, 1.9, 3.0, 1.8))
    assert (
        claims._carbon_aware(claims.Evidence(pd.DataFrame(), pd.DataFrame(), schedule=worse))[1] == claims.CONTRADICTED
    )
