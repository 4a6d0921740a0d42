"""Figures that say what the study found, drawn from synthetic carbon and lifecycle tables: the
amortization figure marks each variant's break-even against fp32; the scheduler front names policies in
words and draws the SLO (read from the schedule Parquet's metadata), one panel per simulated device; the
forecast figures plot the router's own forecaster and colour only the forecasters that matter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from greenbench.analysis.amortization import BREAK_EVEN_SCHEMA, CURVE_SCHEMA, break_even, total_energy
from greenbench.carbon.routing import RESULT_SCHEMA
from greenbench.report import figures
from greenbench.report import style
from greenbench.report.figures import build, carbon_panels, lifecycle, scheduler
from greenbench.report.figures.common import REFERENCE

FORECASTERS = {  # model -> error scale (%): ridge is the best single model, selected the best of all
    "seasonal_naive_24h": 0.25,
    "seasonal_naive_168h": 0.30,
    "ridge": 0.15,
    "ridge_a3": 0.17,
    "tcn": 0.2,
    "ridge+tcn": 0.16,
    "selected": 0.12,
}
POLICIES = ["nearest", "static_greenest", "forecast_greedy", "oracle", "temporal_shift", "oracle_shift"]
WEIGHTS = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]
N = np.logspace(2, 7, 11)
# variant -> (own build J, J/inference); fp32's build is the fine-tune alone
LIFECYCLE = {
    "fp32": (0.0, 0.05),
    "int8_dynamic": (2_000.0, 0.03),  # breaks even at 100,000
    "prune_heads25": (30_000.0, 0.04),  # at 3,000,000
    "bf16": (0.0, 0.06),  # never
    "magnitude50": (40_000.0, 0.049),  # at 40,000,000: beyond the plotted range
    "topk16": (0.0, 0.045),  # at once
}
FINETUNE_J = 50_000.0


def forecasts(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    origins = pd.date_range("2022-01-01", periods=10, freq="D", tz="UTC")
    for zone, level in (("DE", 350.0), ("FR", 60.0)):
        for origin in origins:
            hours = origin + pd.to_timedelta(np.arange(48), unit="h")
            actual = level * (1 + 0.3 * np.sin(2 * np.pi * hours.hour / 24)) + rng.normal(0, 5, 48)
            for model, scale in FORECASTERS.items():
                f = actual * (1 + rng.normal(0, scale / 2, 48))
                rows.append(
                    pd.DataFrame(
                        {
                            "zone": zone,
                            "model": model,
                            "origin": origin,
                            "lead_h": np.arange(1, 49),
                            "forecast": f,
                            "low": f * 0.8,
                            "high": f * 1.2,
                            "actual": actual,
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


def forecast_metrics() -> pd.DataFrame:
    rows = []
    for zone in ("DE", "FR", "GB"):
        for model, scale in FORECASTERS.items():
            for lead in range(1, 97):
                rows.append({"zone": zone, "model": model, "lead_h": lead, "mape": 100 * scale * (1 + lead / 96)})
    return pd.DataFrame(rows)


def schedule(devices=(None,), slo_ms: float = 80.0) -> pd.DataFrame:
    rows = []
    for d_i, device in enumerate(devices):
        for s_i, scenario in enumerate(("europe", "europe_without_fr")):
            g = 30.0 * (1 + d_i) * (1 + 0.3 * s_i)
            fixed = dict(
                zip(POLICIES, ([g, 40], [0.8 * g, 70], [0.7 * g, 75], [0.6 * g, 78], [0.65 * g, 75], [0.5 * g, 78]))
            )
            for policy, (grams, p95) in fixed.items():
                rows.append((device, scenario, policy, math.nan, grams, p95))
            for w in WEIGHTS:
                rows.append((device, scenario, "weighted", w, g * (1 - 0.45 * w), 40 + 60 * w**2))
    df = pd.DataFrame(rows, columns=["device", "scenario", "policy", "weight", "g_per_1000_requests", "latency_p95_ms"])
    for col in RESULT_SCHEMA.names:
        if col not in df:
            text = pa.types.is_string(RESULT_SCHEMA.field(col).type)
            df[col] = {"energy_label": "measured", "forecaster": "selected"}.get(col, "" if text else 0.0)
    df["slo_ms"], df["deferral_window_h"] = slo_ms, 12.0
    if devices == (None,):
        return df.drop(columns="device")
    df["served"] = "INT8 dynamic, batch 8"
    return df


def lifecycle_tables(devices=("cpu",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    table, curves = [], []
    base_build, base_j = FINETUNE_J, LIFECYCLE["fp32"][1]
    for k, device in enumerate(devices):
        for variant, (own, j) in LIFECYCLE.items():
            j = j * (1 + k)
            build_j = FINETUNE_J + own
            n = 0.0 if variant == "fp32" else break_even(build_j, j, base_build, base_j * (1 + k))
            table.append(
                {
                    "device": device,
                    "model": "minilm",
                    "variant": variant,
                    "batch_size": 8,
                    "padding": "dynamic",
                    "mode": "eager",
                    "build_j": build_j,
                    "own_build_j": own,
                    "j_per_inf": j,
                    "ratio": j / (base_j * (1 + k)),
                    "ratio_low": 0.98 * j / (base_j * (1 + k)),
                    "ratio_high": 1.02 * j / (base_j * (1 + k)),
                    "break_even_n": n,
                    "break_even_low": 0.8 * n,
                    "break_even_high": 1.25 * n,
                    "verdict": "pays back",
                    "energy_label": "estimated",
                }
            )
            for n_inf, total in zip(N, total_energy(build_j, j, N)):
                curves.append(
                    {
                        "device": device,
                        "model": "minilm",
                        "variant": variant,
                        "inferences": n_inf,
                        "total_j": total,
                        "j_per_inference": total / n_inf,
                    }
                )
    return pd.DataFrame(table, columns=BREAK_EVEN_SCHEMA.names), pd.DataFrame(curves, columns=CURVE_SCHEMA.names)


def study(devices=(None,)) -> dict:
    table, curves = lifecycle_tables()
    return {
        "forecasts": forecasts(),
        "forecast_metrics": forecast_metrics(),
        "schedule": schedule(devices),
        "curves": curves,
        "break_even": table,
    }


FIGS = ("amortization", "scheduler_front", "forecast_vs_actual", "forecast_mape_by_lead")


def _draw(name: str, data: dict):
    return next(f for f in figures.ordered() if f.name == name).draw(data)


@pytest.mark.parametrize("devices", [(None,), ("cpu", "cuda")])
def test_the_findings_figures_draw_clean_with_data(devices):
    data = study(devices)
    for name in FIGS:
        fig = _draw(name, data)
        assert figures.check_layout(fig) == [], name
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_break_even_points_sit_where_the_cumulative_energies_cross():
    table, curves = lifecycle_tables()
    points = lifecycle.break_even_points(table, curves).set_index("variant")
    # fp32 itself, a variant that never pays back and one cheaper from the first inference: no crossing
    assert set(points.index) == {"int8_dynamic", "prune_heads25", "magnitude50"}
    assert points.loc["int8_dynamic", "n"] == pytest.approx(1e5)
    assert points.loc["prune_heads25", "n"] == pytest.approx(3e6)
    assert not points.loc["magnitude50", "shown"] and points.loc["int8_dynamic", "shown"]
    for variant, p in points.iterrows():  # both lifecycle curves meet at the marker
        own, j = LIFECYCLE[variant]
        assert (FINETUNE_J + own) / p.n + j == pytest.approx(p.y)
        assert FINETUNE_J / p.n + LIFECYCLE["fp32"][1] == pytest.approx(p.y)
    assert [lifecycle.short_n(n) for n in (1e5, 3e6, 1200, 45_000, 12, math.inf)] == [
        "100k",
        "3M",
        "1.2k",
        "45k",
        "12",
        "never",
    ]


def test_the_amortization_figure_marks_and_labels_each_break_even_in_range():
    data = study()
    fig = _draw("amortization", data)
    marks = [line for line in fig.axes[0].lines if line.get_gid() == lifecycle.BREAK_EVEN]
    assert len(marks) == 1 and sorted(marks[0].get_xdata()) == pytest.approx([1e5, 3e6])
    texts = figures.figure_texts(fig)
    assert style.label("int8_dynamic") + " 100k" in texts
    assert style.label("prune_heads25") + " 3M" in texts
    caption = figures.captions(study())["amortization"]
    assert "magnitude50 (cpu): break-even N 4e+07" in caption and "beyond the plotted range" in caption
    # without a break-even table (an older run) the curves still draw, unmarked
    fig = _draw("amortization", {**data, "break_even": pd.DataFrame(columns=BREAK_EVEN_SCHEMA.names)})
    assert not [line for line in fig.axes[0].lines if line.get_gid() == lifecycle.BREAK_EVEN]


def test_policy_labels_read_as_words():
    label = scheduler.policy_label
    assert label("nearest") == "nearest region"
    assert label("static_greenest") == "static greenest"
    assert label("forecast_greedy") == "forecast, greedy"
    assert label("oracle") == "oracle"
    assert label("temporal_shift", window_h=12) == "forecast + shift 12 h"
    assert label("temporal_shift") == "forecast + shift"
    assert label("weighted", 0.5) == "weighted w=0.5"
    assert label("my_new_policy") == "my new policy"


def _legend_texts(fig) -> list[str]:
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_the_scheduler_front_draws_the_slo_and_names_policies_in_words():
    fig = _draw("scheduler_front", study())
    ax = fig.axes[0]
    slo = [line for line in ax.lines if line.get_gid() == REFERENCE and list(line.get_xdata()) == [80.0, 80.0]]
    assert len(slo) == 1
    legend = _legend_texts(fig)
    assert "p95 latency SLO 80 ms" in legend
    assert {"nearest region", "static greenest", "forecast, greedy", "oracle", "forecast + shift 12 h"} <= set(legend)
    assert not [t for t in legend if "_" in t.split(":")[-1]]  # no code names (scenario names may have them)
    assert {"w=0", "w=1"} <= set(figures.figure_texts(fig))  # the sweep's ends are labelled


def test_the_scheduler_front_has_a_panel_per_device_and_works_without_devices():
    fig = _draw("scheduler_front", study(("cpu", "cuda")))
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["cpu: serves INT8 dynamic, batch 8", "cuda: serves INT8 dynamic, batch 8"]
    caption = figures.captions(study(("cpu", "cuda")))["scheduler_front"]
    assert "cuda europe: nearest region" in caption and "SLO 80 ms" in caption
    one = _draw("scheduler_front", study())
    assert len(one.axes) == 1 and one.axes[0].get_title(loc="left") == ""


def test_the_slo_comes_from_the_schedule_files_metadata(tmp_path):
    from greenbench.core import io

    df = schedule().assign(device="")[RESULT_SCHEMA.names]
    io.write_parquet(df, tmp_path / "a.parquet", RESULT_SCHEMA, {"slo_ms": 120, "seed": 0})
    io.write_parquet(df.assign(scenario="b"), tmp_path / "b.parquet", RESULT_SCHEMA, {"seed": 0})
    table = build.schedule_table([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    assert set(table[table.scenario != "b"].slo_ms) == {120.0} and table[table.scenario == "b"].slo_ms.isna().all()
    assert table.deferral_window_h.isna().all()
    assert scheduler.slo_values(table) == {"europe": 120.0, "europe_without_fr": 120.0}


def test_forecast_figures_plot_the_routers_forecaster_and_emphasise_only_what_matters():
    data = study()
    fig = _draw("forecast_vs_actual", data)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    mine = carbon_panels.forecaster_label("selected", "selected")
    assert mine in lines and "the router's" in mine
    assert lines[mine].get_linewidth() == max(line.get_linewidth() for line in lines.values())
    assert carbon_panels.forecaster_label("seasonal_naive_24h") in lines
    assert carbon_panels.forecaster_label("ridge") in lines  # the best single model
    assert "TCN" not in lines  # not one of the three
    # the router uses another forecaster: that one is emphasised
    other = {**data, "schedule": data["schedule"].assign(forecaster="tcn")}
    labels = [line.get_label() for line in _draw("forecast_vs_actual", other).axes[0].lines]
    assert carbon_panels.forecaster_label("tcn", "tcn") in labels

    fig = _draw("forecast_mape_by_lead", data)
    ax = fig.axes[0]
    coloured = [line for line in ax.lines if line.get_color() != carbon_panels.OTHER_COLOR]
    grey = [line for line in ax.lines if line.get_color() == carbon_panels.OTHER_COLOR]
    assert len(coloured) == 3 and len(grey) == len(FORECASTERS) - 3
    legend = _legend_texts(fig)
    assert legend[0] == mine and legend[-1].startswith("others (thin grey):\n")
    assert carbon_panels.best_single(forecast_metrics()) == "ridge"
    caption = figures.captions(data)["forecast_mape_by_lead"]
    assert "selected beats the naive 24 h baseline at 100% of the leads" in caption
