"""Paper figures: seaborn, one style, readable in grayscale (markers and hatches, not colour alone),
each saved as PDF and PNG."""

from __future__ import annotations

import itertools

from pathlib import Path
from typing import Callable

import pandas as pd

from greenbench import io
from greenbench.log import get_logger

log = get_logger(__name__)

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", palette="gray", font_scale=1.1)
    return sns


def save(fig, stem: str | Path) -> list[Path]:
    """Write ``stem``.pdf and ``stem``.png atomically."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    outs = []
    for ext in ("pdf", "png"):
        final = stem.with_suffix(f".{ext}")
        with io.atomic_file(final) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        outs.append(final)
    plt.close(fig)
    return outs


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()


def accuracy_by_variant(accuracy: pd.DataFrame, ax) -> None:
    ok = accuracy[accuracy.status == "ok"].sort_values("accuracy")
    if ok.empty:
        return _empty(ax, "no evaluated variants")
    labels = [f"{v}\n({d})" for v, d in zip(ok.variant, ok.device)]
    ax.barh(labels, ok.accuracy, xerr=[ok.accuracy - ok.ci_low, ok.ci_high - ok.accuracy], color="0.6",
            edgecolor="black", hatch="//", capsize=3)
    ax.set_xlabel("accuracy on SST-2 dev (95% bootstrap CI)")
    ax.set_xlim(max(0.0, ok.ci_low.min() - 0.05), min(1.0, ok.ci_high.max() + 0.02))
    na = accuracy[accuracy.status != "ok"]
    if len(na):
        ax.set_title(f"not applicable here: {', '.join(sorted(set(na.variant)))}", fontsize=8)


def _metric(energy: pd.DataFrame, metric: str) -> pd.DataFrame:
    return energy[energy.metric == metric]


def latency_vs_throughput(energy: pd.DataFrame, ax) -> None:
    lat = _metric(energy, "latency_p50_ms").set_index(["device", "model", "variant", "batch_size", "padding", "mode"])["mean"]
    thr = _metric(energy, "throughput_per_s").set_index(["device", "model", "variant", "batch_size", "padding", "mode"])["mean"]
    df = pd.concat({"latency": lat, "throughput": thr}, axis=1).dropna().reset_index()
    if df.empty:
        return _empty(ax, "no measured cells")
    for marker, (variant, g) in zip(MARKERS * 3, df.groupby("variant")):
        ax.plot(g.throughput, g.latency, marker=marker, linestyle="", color="black", fillstyle="none", label=variant)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("throughput (inferences/s)")
    ax.set_ylabel("batch latency p50 (ms)")
    ax.legend(fontsize=7, ncol=2)


def energy_by_batch(energy: pd.DataFrame, ax) -> None:
    e = _metric(energy, "j_per_inf_gross").dropna(subset=["mean"])
    if e.empty:
        return _empty(ax, "energy unavailable on this device (see measurements' energy_label)")
    sns = _style()
    sns.barplot(data=e, x="variant", y="mean", hue="batch_size", ax=ax, palette="Greys", edgecolor="black", errorbar=None)
    for container, hatch in zip(ax.containers, ["", "//", "xx", "..", "\\\\", "++"] * 5):
        for patch in container:
            patch.set_hatch(hatch)
            patch.set_facecolor("white" if hatch else "0.7")
    ax.legend(title="batch size", fontsize=8)
    ax.set_ylabel(f"J per inference, gross ({'+'.join(sorted(set(e.energy_label)))})")
    ax.set_xlabel("variant")
    ax.tick_params(axis="x", rotation=30)


def pareto_plot(points: pd.DataFrame, ax) -> None:
    p = points[points.objectives == "accuracy-energy"]
    if p.empty:
        return _empty(ax, "no accuracy-energy points (energy unavailable?)")
    for marker, (variant, g) in zip(MARKERS * 3, p.groupby("variant")):
        ax.plot(g.j_per_inf_gross, g.accuracy, marker=marker, linestyle="", color="black", fillstyle="none", label=variant)
    front = p[p.on_front].sort_values("j_per_inf_gross")
    for _, g in front.groupby(["device", "model", "batch_size", "padding", "mode"]):
        ax.plot(g.j_per_inf_gross, g.accuracy, color="0.3", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.set_xlabel(f"J per inference, gross ({'+'.join(sorted(set(p.energy_label.dropna())))})")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, ncol=2)


def _predictions(prediction_files) -> pd.DataFrame:
    rows = []
    for path in prediction_files:
        meta = io.read_metadata(path)
        df = io.read_parquet(path)
        if df.empty:
            continue
        rows.append(df.assign(variant=meta["variant"], device=meta["device"]))
    return pd.concat(rows) if rows else pd.DataFrame()


def energy_by_length_panel(by_length: pd.DataFrame, ax) -> None:
    """Gross J per sentence by length bin (measured window energy split by measured time), batch 8
    (or the nearest batch measured), dynamic padding, eager, one line per variant."""
    if by_length.empty:
        return _empty(ax, "no dynamic-padding energy measured")
    batches = sorted(set(by_length.batch_size))
    batch = min(batches, key=lambda b: abs(b - 8))
    df = by_length[(by_length.batch_size == batch) & (by_length["mode"] == "eager")]
    df = df[df.device == sorted(set(df.device))[0]] if not df.empty else df
    for marker, (variant, g) in zip(MARKERS * 3, df.groupby("variant")):
        g = g.sort_values("bin_lo")
        ax.errorbar(g.length_bin, g.j_per_inf_gross, yerr=[g.j_per_inf_gross - g.ci_low, g.ci_high - g.j_per_inf_gross],
                    marker=marker, color="black", fillstyle="none", capsize=2, linewidth=0.8, label=variant)
    ax.set_yscale("log")
    ax.set_xlabel("length bin (tokens, padded batch)")
    label = "+".join(sorted(set(df.energy_label.dropna()))) or "unavailable"
    ax.set_ylabel(f"J per sentence, gross ({label}; batch {batch})")
    ax.legend(fontsize=6, ncol=2)


def difficulty(prediction_files: list[str | Path], by_length: pd.DataFrame, axes) -> None:
    """Accuracy by length and by confidence bin per variant, the adaptive router's choices, and
    energy per sentence by length."""
    energy_by_length_panel(by_length, axes[3])
    df = _predictions(prediction_files)
    if df.empty:
        for ax in axes[:3]:
            _empty(ax, "no predictions")
        return
    df["correct"] = (df.prediction == df.label).astype(float)
    # ordered categories: bins plot low to high (as strings "(3.999, 17.0]" would sort after "(17.0, ...")
    df["length bin"] = pd.qcut(df["length"], q=4, duplicates="drop")
    df["confidence bin"] = pd.cut(df["confidence"], [0.5, 0.7, 0.9, 0.99, 1.0], include_lowest=True)
    for ax, col in zip(axes[:2], ["length bin", "confidence bin"]):
        table = df.groupby(["variant", col], observed=True)["correct"].mean().reset_index().sort_values(["variant", col])
        for marker, (variant, g) in zip(MARKERS * 3, table.groupby("variant")):
            ax.plot(g[col].astype(str), g["correct"], marker=marker, color="black", fillstyle="none", label=variant)
        ax.set_xlabel(f"{col} ({'tokens' if col.startswith('length') else 'max softmax'})")
        ax.set_ylabel("accuracy")
        ax.tick_params(axis="x", rotation=30)
    axes[0].legend(fontsize=6, ncol=2)
    routed = df[df.route >= 0]
    if routed.empty:
        return _empty(axes[2], "no adaptive router in this study")
    share = routed.groupby("length bin", observed=True)["route"].apply(lambda r: float((r == 0).mean())).reset_index()
    share = share.sort_values("length bin")
    axes[2].bar(share["length bin"].astype(str), share["route"], color="0.7", edgecolor="black", hatch="//")
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("length bin (tokens)")
    axes[2].set_ylabel("share answered by the cheap tier")
    axes[2].tick_params(axis="x", rotation=30)


def forecast_vs_actual(forecasts: pd.DataFrame, ax) -> None:
    if forecasts.empty:
        return _empty(ax, "no forecasts")
    zone = sorted(forecasts.zone.unique())[0]
    f = forecasts[(forecasts.zone == zone) & (forecasts.lead_h <= 24)].copy()
    f["timestamp"] = f["origin"] + pd.to_timedelta(f["lead_h"] - 1, unit="h")
    first = f.timestamp.min()
    f = f[f.timestamp < first + pd.Timedelta(days=7)]
    actual = f[f.model == f.model.iloc[0]].sort_values("timestamp")
    ax.plot(actual.timestamp, actual.actual, color="black", linewidth=1.5, label="actual")
    for style, model in zip(["--", ":", "-."], ["tcn", "seasonal_naive_24h", "ridge"]):
        m = f[f.model == model].sort_values("timestamp")
        if m.empty:
            continue
        ax.plot(m.timestamp, m.forecast, color="0.3", linestyle=style, linewidth=1, label=model)
        if model == "tcn":
            ax.fill_between(m.timestamp, m.low, m.high, color="0.85", label="tcn interval")
    ax.set_ylabel(f"{zone} gCO2e/kWh (day-ahead)")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=7)


def mape_by_lead(metrics: pd.DataFrame, ax) -> None:
    if metrics.empty:
        return _empty(ax, "no forecast metrics")
    m = metrics.groupby(["model", "lead_h"])["mape"].mean().reset_index()
    for style, (model, g) in zip(["-", "--", ":", "-."], m.groupby("model")):
        ax.plot(g.lead_h, g.mape, color="black", linestyle=style, label=model)
    ax.set_xlabel("lead time (h)")
    ax.set_ylabel("MAPE (%), mean over zones")
    ax.legend(fontsize=7)


def forecast_skill(metrics: pd.DataFrame, ax) -> None:
    """Skill of the selected forecaster (1 - MAPE/MAPE of 'same hour yesterday') by lead, per zone."""
    from greenbench.carbon.forecast import SELECTED, skill_by_lead

    if metrics.empty or SELECTED not in set(metrics.model):
        return _empty(ax, "no selected forecaster in the metrics")
    skill = skill_by_lead(metrics)
    skill = skill[skill.model == SELECTED]
    for style, (zone, g) in zip(itertools.cycle(["-", "--", ":", "-."]), skill.groupby("zone")):
        ax.plot(g.lead_h, g.skill, color="black", linestyle=style, linewidth=1, label=zone)
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("lead time (h)")
    ax.set_ylabel("skill vs seasonal-naive 24 h (1 - MAPE ratio)")
    ax.set_title("selected forecaster (per zone and lead, by validation MAPE)", fontsize=8)
    ax.legend(fontsize=7, ncol=2)


def scheduler_front(schedule: pd.DataFrame, ax) -> None:
    if schedule.empty:
        return _empty(ax, "no schedule results")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    handles, markers = [], {}
    for color, (scenario, s) in zip(plt.get_cmap("tab10").colors, schedule.groupby("scenario", sort=False)):
        w = s[s.policy == "weighted"].sort_values("weight")
        ax.plot(w.latency_p95_ms, w.g_per_1000_requests, color=color, linestyle="--", marker=".")
        handles.append(Line2D([], [], color=color, linestyle="--", marker=".", label=f"{scenario or 'scenario'}: weighted sweep"))
        for _, r in s[s.policy != "weighted"].iterrows():
            marker = markers.setdefault(r.policy, MARKERS[len(markers) % len(MARKERS)])
            ax.plot(r.latency_p95_ms, r.g_per_1000_requests, marker=marker, color=color, fillstyle="none", linestyle="")
    handles += [Line2D([], [], marker=m, color="black", fillstyle="none", linestyle="", label=p) for p, m in markers.items()]
    ax.set_xlabel("latency p95 (ms)")
    ax.set_ylabel(f"gCO2e per 1,000 requests ({schedule.energy_label.iloc[0]} energy)")
    ax.legend(handles=handles, fontsize=7)


def firing_rates(summary: pd.DataFrame, ax) -> None:
    """Per-layer firing rates of the spiking self-attention neurons (Q, K, V, attention output)."""
    import json

    rows = []
    for _, r in summary[summary.status == "ok"].iterrows():
        for layer, rates in enumerate(json.loads(r.variant_info).get("firing_rates") or []):
            rows += [{"run": f"{r.variant} ({r.device})", "layer": layer, "neuron": k, "rate": v} for k, v in (rates or {}).items()]
    if not rows:
        return _empty(ax, "no spiking variant in this study")
    df = pd.DataFrame(rows)
    neurons = ["q", "k", "v", "out"]
    width = 0.8 / len(neurons)
    for i, (neuron, hatch) in enumerate(zip(neurons, ["", "//", "..", "xx"])):
        g = df[df.neuron == neuron].groupby("layer")["rate"].mean()
        ax.bar(g.index + (i - 1.5) * width, g.values, width, color=str(0.2 + 0.2 * i), edgecolor="black", hatch=hatch,
               label=neuron)
    ax.set_xlabel("encoder layer")
    ax.set_ylabel("firing rate (spikes per neuron per step)")
    ax.set_title(", ".join(sorted(df.run.unique())), fontsize=8)
    ax.legend(fontsize=7, ncol=4)


def amortization(curves: pd.DataFrame, ax) -> None:
    """Lifecycle J per inference (fine-tune + build + N inferences, over N) against deployment volume."""
    if curves.empty or curves.total_j.isna().all():
        return _empty(ax, "no build energy or no measured J/inference (see results/stats/footprint.parquet)")
    styles = itertools.cycle(itertools.product(["-", "--", ":", "-."], MARKERS))
    for (device, variant), g in curves.dropna(subset=["total_j"]).groupby(["device", "variant"]):
        style, marker = next(styles)
        base = variant == "fp32"
        ax.plot(g.inferences, g.j_per_inference, linestyle=style, marker=marker, markersize=3,
                color="black" if base else "0.45", linewidth=1.6 if base else 0.9,
                label=f"{variant} ({device})" if curves.device.nunique() > 1 else variant)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("inferences served (deployment volume N)")
    ax.set_ylabel("J per inference, build included")
    ax.set_title("(fine-tune + build + N x measured J/inference) / N", fontsize=8)
    ax.legend(fontsize=6, ncol=2)


def draw(name: str, plot: Callable, *args, out_dir: str | Path, size=(6, 4), panels: int = 1) -> list[Path]:
    import matplotlib.pyplot as plt

    _style()
    fig, ax = plt.subplots(1, panels, figsize=size)
    plot(*args, ax)
    fig.tight_layout()
    return save(fig, Path(out_dir) / name)


def make_all(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
             schedule_path, eval_summary_path, energy_by_length_path, out_dir, amortization_curves_path=None) -> list[Path]:
    accuracy, energy, points = (io.read_parquet(p) for p in (accuracy_path, energy_path, points_path))
    outs = []
    outs += draw("accuracy_by_variant", accuracy_by_variant, accuracy, out_dir=out_dir)
    outs += draw("latency_vs_throughput", latency_vs_throughput, energy, out_dir=out_dir)
    outs += draw("energy_by_batch", energy_by_batch, energy, out_dir=out_dir)
    outs += draw("pareto_accuracy_energy", pareto_plot, points, out_dir=out_dir)
    outs += draw("difficulty_by_length", difficulty, list(prediction_files), io.read_parquet(energy_by_length_path),
                 out_dir=out_dir, size=(18, 4), panels=4)
    outs += draw("forecast_vs_actual", forecast_vs_actual, io.read_parquet(forecasts_path), out_dir=out_dir, size=(8, 4))
    outs += draw("forecast_mape_by_lead", mape_by_lead, io.read_parquet(forecast_metrics_path), out_dir=out_dir)
    outs += draw("forecast_skill", forecast_skill, io.read_parquet(forecast_metrics_path), out_dir=out_dir)
    from greenbench.carbon.schedule import read_results

    outs += draw("scheduler_front", scheduler_front, read_results(schedule_path), out_dir=out_dir)
    outs += draw("spiking_firing_rates", firing_rates, io.read_parquet(eval_summary_path), out_dir=out_dir)
    from greenbench.amortization import CURVE_SCHEMA

    curves = (io.read_parquet(amortization_curves_path) if amortization_curves_path
              else pd.DataFrame(columns=CURVE_SCHEMA.names))
    outs += draw("amortization", amortization, curves, out_dir=out_dir, size=(7, 4.5))
    log.info("wrote %d figure files to %s", len(outs), out_dir)
    return outs
