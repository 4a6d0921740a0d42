import json
import math
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.core import io
from greenbench.carbon import forecasting as forecast, metrics, routing as schedule, traces

EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
    "Data Estimated,Data Estimation Method"
)


def em_file(tmp_path, rows, name="DE_2021_hourly.csv"):
    lines = [EM_HEADER] + [
        f"{ts},Germany,Germany,DE,{v},{v + 50},50,30,entsoe.eu,{str(est).lower()}," for ts, v, est in rows
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hours(n, start="2021-01-01 00:00:00"):
    return [str(t) for t in pd.date_range(start, periods=n, freq="h")]


def test_reads_electricity_maps_export(tmp_path):
    path = em_file(tmp_path, [(t, 100 + i, i == 1) for i, t in enumerate(hours(5))])
    out = traces.prepare_traces([path], tmp_path / "t.parquet", "direct", 3)
    assert out.ci.tolist() == [100, 101, 102, 103, 104] and out.estimated.tolist() == [False, True, False, False, False]
    assert str(out.timestamp.dt.tz) == "UTC" and not out.interpolated.any()
    lca = traces.prepare_traces([path], tmp_path / "l.parquet", "lca", 3)
    assert lca.ci.iloc[0] == 150
    assert io.read_metadata(tmp_path / "t.parquet")["attribution"].startswith("Electricity Maps")


def test_reads_generic_long_csv(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "timestamp,zone,carbon_intensity_gco2_per_kwh\n"
        + "".join(f"{t}Z,XX,{10 * i}\n" for i, t in enumerate(hours(4)))
    )
    out = traces.prepare_traces([path], tmp_path / "t.parquet", "direct", 0)
    assert out.zone.unique().tolist() == ["XX"] and out.ci.tolist() == [0, 10, 20, 30]


def test_short_gap_is_interpolated_and_flagged(tmp_path):
    ts = hours(6)
    path = em_file(tmp_path, [(ts[0], 100, False), (ts[1], 110, False), (ts[4], 140, False), (ts[5], 150, False)])
    out = traces.prepare_traces([path], tmp_path / "t.parquet", "direct", 2)
    assert out.ci.tolist() == pytest.approx([100, 110, 120, 130, 140, 150])
    assert out.interpolated.tolist() == [False, False, True, True, False, False]


@pytest.mark.parametrize(
    "case, message, line",
    [
        ("long_gap", "gap of 3 missing hours", 4),
        ("duplicate", "duplicate timestamp", 4),
        ("negative", "negative carbon intensity", 3),
        ("unordered", "not increasing", 4),
        ("off_hour", "not on the hour", 2),
        ("inf", "not a finite number", 3),
        ("nan", "not a finite number", 2),
        ("neg_inf", "not a finite number", 4),
        ("absurd", "above the plausible ceiling", 3),
    ],
)
def test_bad_traces_fail_naming_file_and_line(tmp_path, case, message, line):
    ts = hours(8)
    rows = {
        "long_gap": [(ts[0], 1, False), (ts[1], 1, False), (ts[5], 1, False)],
        "duplicate": [(ts[0], 1, False), (ts[1], 1, False), (ts[1], 2, False)],
        "negative": [(ts[0], 1, False), (ts[1], -5, False), (ts[2], 1, False)],
        "unordered": [(ts[0], 1, False), (ts[2], 1, False), (ts[1], 1, False)],
        "off_hour": [("2021-01-01 00:30:00", 1, False), (ts[1], 1, False)],
        "inf": [(ts[0], 1, False), (ts[1], float("inf"), False)],
        "nan": [(ts[0], float("nan"), False), (ts[1], 1, False)],
        "neg_inf": [(ts[0], 1, False), (ts[1], 1, False), (ts[2], float("-inf"), False)],
        "absurd": [(ts[0], 1, False), (ts[1], 1e12, False)],
    }[case]
    path = em_file(tmp_path, rows)
    with pytest.raises(traces.TraceError) as err:
        traces.prepare_traces([path], tmp_path / "t.parquet", "direct", 2)
    assert message in str(err.value) and f"{path}:{line}:" in str(err.value)
    assert not (tmp_path / "t.parquet").exists()


def test_a_row_of_another_zone_is_blamed_on_its_own_file_and_line(tmp_path):
    ts = hours(4)
    de = em_file(tmp_path, [(t, 100, False) for t in ts])
    text = de.read_text().splitlines()
    text[3] = text[3].replace(",DE,", ",FR,")  # one foreign row on line 4
    de.write_text("\n".join(text) + "\n")
    with pytest.raises(traces.TraceError) as err:
        traces.prepare_traces([de], tmp_path / "t.parquet", "direct", 2)
    assert f"{de}:4: zone 'FR' in a file named for zone 'DE'" in str(err.value)
    whole = em_file(tmp_path, [(t, 100, False) for t in ts], name="PL_2021_hourly.csv")  # a DE file named PL
    with pytest.raises(traces.TraceError, match=f"{whole}:2: zone 'DE' in a file named for zone 'PL'"):
        traces.prepare_traces([whole], tmp_path / "t.parquet", "direct", 2)
    assert traces.zone_of_file("US-CAL-CISO_2022_hourly.csv") == "US-CAL-CISO" and traces.zone_of_file("x.csv") is None


def test_unknown_header_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(traces.TraceError, match=":1: unknown header"):
        traces.read_trace(path)


def test_metrics_basics():
    a = np.array([[100.0, 200.0], [50.0, 0.0]])
    f = np.array([[110.0, 180.0], [50.0, 5.0]])
    assert metrics.mape(a, f).tolist() == pytest.approx([5.0, 10.0])  # zero actual ignored
    assert metrics.mae(a, f).tolist() == pytest.approx([5.0, 12.5])
    assert metrics.coverage(a, f - 11, f + 11).tolist() == pytest.approx([100.0, 50.0])
    assert metrics.day1(np.arange(48)) == pytest.approx(11.5)


@settings(max_examples=30, deadline=None)
@given(st.integers(24, 200), st.integers(0, 5))
def test_seasonal_naive_is_exact_on_periodic_series(lookback_extra, seed):
    rng = np.random.default_rng(seed)
    day = rng.uniform(50, 500, 24)
    values = np.tile(day, 30)
    times = pd.date_range("2022-01-01", periods=len(values), freq="h", tz="UTC")
    w = forecast.make_windows(values, times, "Z", 24 + lookback_extra, 48, np.arange(300, 400))
    pred = forecast.SeasonalNaive(24).fit(w).predict(w)
    assert np.allclose(pred, w.y)


def test_ridge_learns_each_zones_daily_shape_in_relative_terms():
    times = pd.date_range("2022-01-01", periods=24 * 60, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    ws = []
    for zone, peak in (("A", 6), ("B", 18)):  # opposite daily shapes, levels two orders apart
        shape = 1 + 0.5 * np.cos(2 * np.pi * (np.arange(len(times)) - peak) / 24)
        level = (10 if zone == "A" else 1000) * np.exp(np.cumsum(rng.normal(0, 0.002, len(times))))
        ws.append(forecast.make_windows(shape * level, times, zone, 48, 24, np.arange(48, len(times) - 24)))
    w = forecast.concat(ws)
    model = forecast.Ridge(alpha=1e-3, lags=48).fit(w)
    assert metrics.mape(w.y, model.predict(w)).max() < 2.0
    # an origin hour it never saw falls back to the zone's all-hours model; an unknown zone is an error
    only_midnight = forecast.Ridge(alpha=1e-3, lags=48).fit(forecast._subset(w, w.hour == 0))
    pred = only_midnight.predict(w)
    assert np.isfinite(pred).all() and metrics.mape(w.y[w.hour == 0], pred[w.hour == 0]).max() < 2.0
    with pytest.raises(ValueError, match="zone C"):
        model.predict(forecast.make_windows(np.ones(200), times[:200], "C", 48, 24, np.arange(48, 100)))


def test_conformal_covers_exchangeable_errors():
    rng = np.random.default_rng(0)
    f_cal, f_test = rng.uniform(50, 150, (5000, 4)), rng.uniform(50, 150, (5000, 4))
    y_cal = f_cal * (1 + rng.normal(0, 0.1, f_cal.shape))
    y_test = f_test * (1 + rng.normal(0, 0.1, f_test.shape))
    days = pd.date_range("2000-01-01", periods=5001, freq="D", tz="UTC")
    # with a window as long as the calibration set and an origin after it, this is plain split conformal
    half = forecast.rolling_conformal_halfwidths(
        days[:-1], forecast.relative_errors(y_cal, f_cal), days[-1:], 24, 0.9, window=5000
    )[0]
    cov = metrics.coverage(y_test, f_test * (1 - half), f_test * (1 + half))
    assert np.all(np.abs(cov - 90) < 1.5)


def _issued(actual, rng, leads):
    """Forecasts issued every hour: forecast[t, k] is for hour t + k (the last hour repeats past the end)."""
    n = len(actual)
    idx = np.minimum(np.arange(n)[:, None] + np.arange(leads)[None, :], n - 1)
    return actual[idx] * rng.uniform(0.8, 1.2, (n, leads, actual.shape[1]))


def _scenario(rng, n_hours=48, leads=7):
    zones = ["A", "B", "C"]
    actual = rng.uniform(10, 500, (n_hours, 3))
    return schedule.Scenario(
        zones=zones,
        hours=pd.date_range("2022-01-01", periods=n_hours, freq="h", tz="UTC"),
        requests=rng.integers(0, 50, (n_hours, 3)),
        deferrable=rng.integers(0, 20, (n_hours, 3)),
        latency=np.array([[5.0, 20, 60], [20, 5, 30], [60, 30, 5]]),
        actual=actual,
        forecast=_issued(actual, rng, leads),
        static_ci=actual.mean(axis=0),
        slo_ms=50.0,
        energy_j=1.0,
        inference_ms=(np.log(10.0), 0.1),
        inference_p95_ms=12.0,
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_scheduler_oracle_bounds_and_feasibility(seed):
    rng = np.random.default_rng(seed)
    sc = _scenario(rng)
    cfg = {"deferral_window_h": 6, "weights": [0.0, 1.0]}
    df = schedule.simulate(sc, cfg, seed)
    g = df.groupby("policy")["g_per_1000_requests"].min()
    for policy in ("nearest", "static_greenest", "forecast_greedy"):
        assert g["oracle"] <= g[policy] + 1e-12  # nobody beats perfect information spatially
    assert g["oracle_shift"] <= g["oracle"] + 1e-12  # waiting can only help the oracle
    hard = df[df.policy.isin(["nearest", "static_greenest", "forecast_greedy", "oracle"])]
    assert (hard.slo_violations == 0).all()  # hard-feasible policies never break the SLO
    assert df.loc[df.policy == "oracle", "gap_closed"].isna().all() or df.loc[df.policy == "oracle", "gap_closed"].iloc[
        0
    ] == pytest.approx(1.0)
    assert (df.requests == df.requests.iloc[0]).all()


def test_perfect_forecasts_match_the_oracle():
    rng = np.random.default_rng(3)
    sc = _scenario(rng)
    n = len(sc.hours)
    sc.forecast = sc.actual[np.minimum(np.arange(n)[:, None] + np.arange(7)[None, :], n - 1)]
    df = schedule.simulate(sc, {"deferral_window_h": 6, "weights": [1.0]}, 0).set_index("policy")
    assert df.loc["forecast_greedy", "g_per_1000_requests"] == pytest.approx(df.loc["oracle", "g_per_1000_requests"])
    assert df.loc["temporal_shift", "g_per_1000_requests"] == pytest.approx(
        df.loc["oracle_shift", "g_per_1000_requests"]
    )


def test_deferral_needs_forecasts_that_reach_the_window():
    sc = _scenario(np.random.default_rng(0), leads=3)
    with pytest.raises(ValueError, match="deferral needs 7"):
        schedule.defer(sc, 6, use_actual=False)


def test_rolling_conformal_uses_only_observed_errors_and_follows_drift():
    rng = np.random.default_rng(0)
    days, horizon = 400, 48
    origins = pd.date_range("2021-01-01", periods=days, freq="D", tz="UTC").to_numpy()
    scale = np.where(np.arange(days) < 200, 0.2, 0.05)[:, None]  # errors shrink half-way
    f = rng.uniform(50, 150, (days, horizon))
    y = f * (1 + rng.normal(0, 1, f.shape) * scale)
    rel = forecast.relative_errors(y, f)
    test = np.arange(200, days)
    half = forecast.rolling_conformal_halfwidths(origins, rel, origins[test], horizon, 0.9, window=60)
    later = test[60:]
    cov = metrics.coverage(y[later], f[later] * (1 - half[60:]), f[later] * (1 + half[60:]))
    assert abs(cov.mean() - 90) < 2.5 and np.all(np.abs(cov - 90) < 8)  # after one window it tracks the new errors
    fixed = forecast.rolling_conformal_halfwidths(origins[:200], rel[:200], origins[202:203], horizon, 0.9, 200)[0]
    assert np.all(fixed > 2 * half[-1])  # a fixed calibration would over-cover
    # the first test origin may only use origins whose 48 h were over by then: not the day before
    first = forecast.rolling_conformal_halfwidths(origins[:199], rel[:199], origins[200:201], horizon, 0.9, 60)
    assert np.allclose(half[0], first[0])
    with pytest.raises(ValueError, match="calibration_days"):
        forecast.rolling_conformal_halfwidths(origins, rel, origins[:3], horizon, 0.9, window=60)


def _stuck_feed(days=500, horizon=48, seed=0):
    """A feed that is stuck for long stretches (zero errors for any forecaster that repeats it) and then
    jumps: the case where a plain rolling interval collapses and then misses."""
    rng = np.random.default_rng(seed)
    origins = pd.date_range("2021-01-01", periods=days, freq="D", tz="UTC").to_numpy()
    f = rng.uniform(50, 150, (days, horizon))
    noise = rng.normal(0, 0.15, f.shape)
    stuck = np.arange(days) % 60 < 40  # stuck 40 days out of every 60
    noise[stuck] *= 0.01
    y = f * (1 + noise)
    return origins, f, y, forecast.relative_errors(y, f)


def test_adaptive_conformal_is_rolling_at_rate_zero_and_restores_coverage_under_shift():
    origins, f, y, rel = _stuck_feed()
    test = np.arange(100, len(origins))
    args = (origins, rel, origins[test], 48, 0.9, 30)
    plain = forecast.rolling_conformal_halfwidths(*args)
    assert np.array_equal(forecast.adaptive_conformal_halfwidths(*args, gamma=0.0), plain)
    aci = forecast.adaptive_conformal_halfwidths(*args, gamma=0.05)

    def cov(half):
        return metrics.coverage(y[test], f[test] * (1 - half), f[test] * (1 + half))

    assert cov(plain).mean() < 88  # the collapsed intervals undercover
    assert abs(cov(aci).mean() - 90) < 1 and np.all(np.abs(cov(aci) - 90) < 3)
    # causal: an origin's interval ignores every error observed after it
    later = rel.copy()
    later[300:] *= 5
    moved = forecast.adaptive_conformal_halfwidths(origins, later, origins[test], 48, 0.9, 30, gamma=0.05)
    early = origins[test] < origins[300]
    assert np.array_equal(moved[early], aci[early])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 0.2))
def test_adaptive_conformal_long_run_miscoverage_is_bounded(seed, gamma):
    # whatever the errors do, ACI's average miss rate stays near alpha (Gibbs and Candes 2021, Prop. 4.1,
    # loosened for the delayed feedback: a lead-h error is seen h hours later, i.e. up to 2 origins here)
    rng = np.random.default_rng(seed)
    days, horizon = 600, 48
    origins = pd.date_range("2021-01-01", periods=days, freq="D", tz="UTC").to_numpy()
    scale = np.exp(np.cumsum(rng.normal(0, 0.3, days)))[:, None]  # a random walk in error size
    rel = np.abs(rng.standard_t(3, (days, horizon))) * scale
    test = np.arange(60, days)
    half = forecast.adaptive_conformal_halfwidths(origins, rel, origins[test], horizon, 0.9, 30, gamma=gamma)
    miss = (rel[test] > half).mean(axis=0)
    bound = (1 + 2 * gamma + 2 * gamma) / (gamma * len(test))  # range of alpha_t plus the delay term
    assert np.all(np.abs(miss - 0.1) <= bound + 0.02)


@settings(max_examples=200, deadline=None)
@given(st.floats(-50, 500), st.floats(0, 600), st.one_of(st.floats(0, 5), st.just(float("inf"))))
def test_an_interval_covers_exactly_what_its_relative_error_allows(f, y, half):
    # what the conformal rule counts as a miss must be what the interval misses, a zero or negative
    # forecast included (a TCN's output near a zero-carbon grid); intensities are never below 0
    from hypothesis import assume

    rel = float(forecast.relative_errors(np.array([y]), np.array([f]))[0])
    assume(abs(rel - half) > 1e-9 * max(1.0, rel))  # not on the boundary (rounding)
    low, high = forecast.interval_bounds(np.array([f]), np.array([half]))
    assert (low[0] <= y <= high[0]) == (rel <= half)
    assert low[0] >= 0


def test_forecasts_are_never_negative():
    class Negative:
        def predict(self, w):
            return np.full(w.y.shape, -5.0)

    w = forecast.Windows(
        np.ones((2, 4)),
        np.ones((2, 3)),
        np.zeros(2, int),
        np.zeros(2, int),
        np.array(["Z", "Z"]),
        pd.date_range("2021-01-01", periods=2, freq="D", tz="UTC").to_numpy(),
    )
    assert (forecast._predictor(Negative())(w) == 0).all()


def test_combinations_average_their_members_and_skip_missing_ones():
    preds = {"ridge": np.full((2, 3), 2.0), "tcn": np.full((2, 3), 4.0), "seasonal_naive_24h": np.zeros((2, 3))}
    out = forecast.with_combinations(preds)
    assert np.allclose(out["ridge+tcn"], 3.0) and set(out) == set(preds) | {"ridge+tcn"}
    assert "ridge+tcn" not in forecast.with_combinations({"ridge": preds["ridge"]})


def test_scenario_serves_a_subset_of_zones_to_every_origin():
    carbon = {
        "zones": ["A", "B", "C"],
        "schedule": {"scenarios": {"all": {}, "no_c": {"zones": ["A", "B"]}}, "slo_ms": 50},
    }
    assert schedule.scenario_config(carbon, "all")["zones"] == ["A", "B", "C"]
    cfg = schedule.scenario_config(carbon, "no_c")
    assert cfg["zones"] == ["A", "B"] and cfg["scenario"] == "no_c" and "scenarios" not in cfg
    with pytest.raises(ValueError, match="unknown scenario 'x'"):
        schedule.scenario_config(carbon, "x")
    # three origins, two serving zones: origin C's nearest serving zone is B
    rng = np.random.default_rng(1)
    sc = _scenario(rng)
    sc.zones, sc.actual, sc.forecast = ["A", "B"], sc.actual[:, :2], sc.forecast[:, :, :2]
    sc.latency, sc.static_ci = sc.latency[:, :2], sc.static_ci[:2]
    near = schedule.assign(sc, "nearest")
    assert near.shape == (48, 3) and (near[:, 2] == 1).all()
    df = schedule.simulate(sc, {"deferral_window_h": 6, "weights": [1.0]}, 0)
    assert df.requests.iloc[0] == sc.requests.sum() + sc.deferrable.sum()


def _synthetic_traces(path, future_scale=1.0, changed_from=None):
    times = pd.date_range("2021-01-01", periods=24 * 120, freq="h", tz="UTC")
    rng = np.random.default_rng(0)
    frames = []
    for zone, level in (("A", 300.0), ("B", 60.0)):
        ci = (
            level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(len(times)) / 24)) * np.exp(rng.normal(0, 0.05, len(times)))
        )
        if changed_from is not None:
            ci = np.where(times >= changed_from, ci * future_scale, ci)
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": times,
                    "zone": zone,
                    "ci": ci,
                    "estimated": False,
                    "interpolated": False,
                    "suspicious": False,
                }
            )
        )
    io.write_parquet(pd.concat(frames, ignore_index=True), path, traces.TRACE_SCHEMA)
    return path


FORECAST_CFG = {
    "zones": ["A", "B"],
    "lookback_h": 48,
    "horizon_h": 48,
    "train_start": "2021-01-01",
    "train_end": "2021-03-01",
    "calibration_days": 20,
    "test_start": "2021-03-01",
    "test_end": "2021-04-20",
    "train_stride_h": 6,
    "interval_level": 0.9,
    "ridge_alpha": 1.0,
    "tcn": {
        "channels": 4,
        "levels": 2,
        "kernel": 2,
        "epochs": 1,
        "batch_size": 64,
        "learning_rate": 0.01,
        "max_train_windows": 200,
    },
}


def _forecast(tmp, name, **trace_kw):
    out = tmp / name
    out.mkdir()
    traces = _synthetic_traces(out / "traces.parquet", **trace_kw)
    forecast.run_forecasting(traces, FORECAST_CFG, 0, out / "m.parquet", out / "f.parquet", out / "model")
    forecast.issue_hourly(
        traces, out / "model", FORECAST_CFG, {"start": "2021-04-01", "hours": 48, "leads": 7}, out / "h.parquet"
    )
    return io.read_parquet(out / "m.parquet"), io.read_parquet(out / "f.parquet"), io.read_parquet(out / "h.parquet")


def test_hourly_forecasts_are_aligned_and_causal(tmp_path):
    metrics_table, daily, hourly = _forecast(tmp_path, "base")
    assert set(metrics_table.model) == {
        "seasonal_naive_24h",
        "seasonal_naive_168h",
        "ridge",
        "tcn",
        "ridge+tcn",
        "selected",
    }
    assert metrics_table.coverage.notna().all() and daily[["low", "high"]].notna().all().all()
    # one forecast per zone, model and hour of the window, 7 leads each; lead k at origin t is hour t + k - 1
    assert len(hourly) == 2 * 6 * 48 * 7
    tr = io.read_parquet(tmp_path / "base" / "traces.parquet").set_index(["zone", "timestamp"])["ci"]
    target = hourly.origin + pd.to_timedelta(hourly.lead_h - 1, unit="h")
    assert np.allclose(hourly.actual, tr.loc[list(zip(hourly.zone, target))].to_numpy())
    # forecasts issued at 12:00 on 1 April must not move when everything from then on changes
    cut = pd.Timestamp("2021-04-01 12:00", tz="UTC")
    _, _, changed = _forecast(tmp_path, "changed", future_scale=3.0, changed_from=cut)
    before = hourly.origin <= cut
    assert np.allclose(hourly.forecast[before], changed.forecast[before])
    assert not np.allclose(hourly.forecast[~before], changed.forecast[~before])


def test_selected_forecaster_is_the_validation_stack_per_zone_and_lead(tmp_path):
    metrics_table, daily, hourly = _forecast(tmp_path, "sel")
    selected = metrics_table[metrics_table.model == "selected"]
    base = metrics_table[metrics_table.model != "selected"]
    assert selected.choice.notna().all() and base.choice.isna().all() and selected.validation_mape.notna().all()
    saved = json.loads((tmp_path / "sel" / "model" / "selection.json").read_text())
    for zone, w in saved["weights"].items():
        table = np.asarray(w["weights"])
        assert table.shape == (48, len(w["models"])) and (table >= 0).all() and np.allclose(table.sum(1), 1.0)
        assert "ridge+tcn" not in w["models"] and set(w["models"]) <= set(base.model)
        assert (table[:6] == table[0]).all()  # one set of weights per 6 h block (the default)
    # its daily and hourly forecasts are the weighted sums of the base models' forecasts
    for table, key in ((daily, ["zone", "origin", "lead_h"]), (hourly, ["zone", "origin", "lead_h"])):
        wide = table.pivot_table(index=key, columns="model", values="forecast")
        for zone, w in saved["weights"].items():
            part = wide.xs(zone, level="zone")
            leads = part.index.get_level_values("lead_h").to_numpy()
            weights = np.asarray(w["weights"])[leads - 1]
            expected = sum(part[m].to_numpy() * weights[:, i] for i, m in enumerate(w["models"]))
            assert np.allclose(part["selected"].to_numpy(), expected)
    skill = forecast.skill_by_lead(metrics_table)
    assert "seasonal_naive_24h" not in set(skill.model) and skill.skill.notna().all()


def test_a_list_of_ridge_penalties_makes_one_candidate_each():
    cfg = dict(FORECAST_CFG, ridge_alpha=[30.0, 3.0])
    names = [m.name for m in forecast.build_models(cfg)]
    assert names == ["seasonal_naive_24h", "seasonal_naive_168h", "ridge", "ridge_a3", "tcn"]
    assert [m.name for m in forecast.build_models(FORECAST_CFG)] == [
        "seasonal_naive_24h",
        "seasonal_naive_168h",
        "ridge",
        "tcn",
    ]


def test_stack_finds_the_exact_model_and_the_exact_mix():
    rng = np.random.default_rng(0)
    y = rng.uniform(100, 300, (30, 12))
    a, b = y * 1.2, y * 0.8  # their mean is exact
    w = forecast.stack_weights({"a": a, "b": b, "y": y + 5}, y, block_h=6, steps=10)
    assert np.allclose(w, [0.5, 0.5, 0.0])
    w = forecast.stack_weights({"a": a, "exact": y}, y, block_h=4, steps=10)
    assert np.allclose(w, [0.0, 1.0])
    out = forecast.compose_stacked(
        {"a": a, "exact": y}, np.array(["Z"] * 30), {"Z": {"models": ["a", "exact"], "weights": w.tolist()}}
    )
    assert np.allclose(out, y)
    assert forecast.describe_weights(["a", "b", "c"], [0.6, 0.0, 0.4]) == "0.6 a + 0.4 c"
    assert forecast.describe_weights(["a", "b"], [0.0, 1.0]) == "b"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 8), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_stack_is_never_worse_than_a_single_model_on_validation(models, steps, block_h, seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(50, 500, (20, 10))
    preds = {f"m{i}": y * rng.uniform(0.5, 1.5, y.shape) for i in range(models)}
    w = forecast.stack_weights(preds, y, block_h, steps)
    grid = forecast.simplex_grid(models, steps)
    assert len(grid) == math.comb(steps + models - 1, models - 1) and np.allclose(grid.sum(1), 1.0)
    assert np.allclose(w.sum(1), 1.0) and (w >= 0).all() and np.allclose(w * steps, np.round(w * steps))
    stacked = forecast.compose_stacked(
        preds, np.array(["Z"] * 20), {"Z": {"models": list(preds), "weights": w.tolist()}}
    )
    for start in range(0, 10, block_h):
        sl = slice(start, start + block_h)
        err = lambda f: np.mean(np.abs(f[:, sl] - y[:, sl]) / y[:, sl])
        assert err(stacked) <= min(err(p) for p in preds.values()) + 1e-12


def test_read_results_concatenates_scenarios_and_names_old_ones(tmp_path):
    new = pd.DataFrame({"scenario": ["x", "x"], "policy": ["nearest", "oracle"], "g_per_1000_requests": [2.0, 1.0]})
    old = new.drop(columns="scenario")
    io.write_parquet(new, tmp_path / "new.parquet", pa.Schema.from_pandas(new, preserve_index=False))
    io.write_parquet(old, tmp_path / "old.parquet", pa.Schema.from_pandas(old, preserve_index=False))
    both = schedule.read_results([tmp_path / "new.parquet", tmp_path / "old.parquet"])
    assert both.scenario.tolist() == ["x", "x", "", ""]
    assert schedule.read_results(str(tmp_path / "old.parquet")).scenario.tolist() == ["", ""]


def test_lognormal_from_percentiles():
    mu, sigma = schedule.lognormal_from_percentiles(10.0, 20.0)
    samples = np.random.default_rng(0).lognormal(mu, sigma, 200_000)
    assert np.percentile(samples, 50) == pytest.approx(10.0, rel=0.02)
    assert np.percentile(samples, 95) == pytest.approx(20.0, rel=0.03)


def test_a_new_policy_is_one_registration(monkeypatch):
    """Adding a policy: a chooser registered once; simulation, deferral and the gap share follow."""
    monkeypatch.setattr(schedule, "POLICIES", schedule.POLICIES.copy())
    greenest_now = schedule.POLICIES.register(
        schedule.Policy(
            "greenest_ignoring_slo",
            lambda sc, feasible, w: np.broadcast_to(sc.actual.argmin(axis=1)[:, None], sc.requests.shape).copy(),
            shifts="actual",
            oracle="oracle_shift",
        )
    )
    with pytest.raises(ValueError, match="registered twice"):
        schedule.POLICIES.register(greenest_now)
    sc = _scenario(np.random.default_rng(5))
    df = schedule.simulate(sc, {"deferral_window_h": 6, "weights": [0.5]}, 0).set_index("policy")
    row = df.loc["greenest_ignoring_slo"]
    assert row.deferred_requests > 0  # it shifts deferrable work, as declared
    # with actual intensities and shifting it is the shifting oracle, up to the SLO it ignores
    assert row.g_per_1000_requests <= df.loc["oracle", "g_per_1000_requests"] + 1e-12
    # its share is measured against the shifting oracle it declared, which it matches or beats
    assert df.loc["static_greenest", "g_per_1000_requests"] > df.loc["oracle_shift", "g_per_1000_requests"]
    assert row.gap_closed >= 1 - 1e-9
    with pytest.raises(ValueError, match="unknown policy"):
        schedule.assign(sc, "no_such_policy")


def test_schedule_without_energy_keeps_latency_and_labels_grams_unavailable():
    cell = {"variant": "int8_dynamic", "batch_size": 8, "padding": "dynamic", "mode": "eager", "device": "cpu"}
    stats = pd.DataFrame(
        [
            dict(cell, metric=m, mean=v, energy_label=lab)
            for m, v, lab in (("latency_p50_ms", 20.0, "measured"), ("latency_p95_ms", 35.0, "measured"))
        ]
    )
    energy, p50, p95, label = schedule.energy_per_request(stats, cell)
    assert np.isnan(energy) and (p50, p95) == (20.0, 35.0) and label == "unavailable"
    with pytest.raises(ValueError, match="was not measured"):
        schedule.energy_per_request(stats.assign(variant="fp32"), cell)
    sc = _scenario(np.random.default_rng(1))
    sc = schedule.Scenario(**{**sc.__dict__, "energy_j": float("nan")})
    df = schedule.simulate(sc, {"deferral_window_h": 6, "weights": [0.5]}, 0)
    assert df.g_per_1000_requests.isna().all() and (df.slo_violations >= 0).all()
    assert df.latency_p95_ms.notna().all()
