"""Every figure and caption together: the caption and figure registries, loading the tables, drawing,
checking, saving and captioning them all (``make_all``, the figures job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from greenbench.core import io
from greenbench.core.log import get_logger
from greenbench.report import style
from greenbench.report.figures import accuracy_by_variant as _accuracy
from greenbench.report.figures import carbon_panels as _carbon
from greenbench.report.figures import difficulty_by_length as _difficulty
from greenbench.report.figures import energy_by_batch as _energy
from greenbench.report.figures import latency_vs_throughput as _latency
from greenbench.report.figures import lifecycle as _lifecycle
from greenbench.report.figures import pareto_accuracy_energy as _pareto
from greenbench.report.figures import adaptive_router as _router
from greenbench.report.figures import spiking_firing_rates as _spiking
from greenbench.report.figures.accuracy_by_variant import _cap_accuracy, fig_accuracy
from greenbench.report.figures.carbon_panels import (_cap_forecast, _cap_mape, _cap_schedule, _cap_skill, forecast_skill,
                                              forecast_vs_actual, mape_by_lead, scheduler_front)
from greenbench.report.figures.common import _rst, _single, pareto_table
from greenbench.report.figures.difficulty_by_length import _cap_difficulty, _predictions, fig_difficulty
from greenbench.report.figures.energy_by_batch import _cap_energy, fig_energy_by_batch
from greenbench.report.figures.latency_vs_throughput import _cap_latency, fig_latency
from greenbench.report.figures.layout import check_layout
from greenbench.report.figures.lifecycle import _cap_amortization, amortization
from greenbench.report.figures.pareto_accuracy_energy import _cap_pareto, fig_pareto
from greenbench.report.figures.adaptive_router import _cap_router, fig_router
from greenbench.report.figures.spiking_firing_rates import _cap_firing, firing_rates

log = get_logger("greenbench.report.figures")


def captions(data: dict[str, Any]) -> dict[str, str]:
    """One reStructuredText caption per figure: what it shows, then its key numbers from the tables."""
    out = {}
    for name, fn in CAPTIONS.items():
        try:
            what, numbers = fn(data)
        except Exception as exc:  # a caption never stops the figures; it says what went wrong
            log.warning("caption of %s: %s", name, exc)
            what, numbers = CAPTION_WHAT.get(name, name), [f"key numbers unavailable: {exc}"]
        body = _rst(what) + "\n\n" + ("\n".join(f"- {_rst(n)}" for n in numbers) if numbers else "- no data")
        out[name] = body + "\n"
    return out


CAPTION_WHAT = {**_accuracy.WHAT, **_latency.WHAT, **_energy.WHAT, **_pareto.WHAT, **_difficulty.WHAT, **_router.WHAT,
                **_carbon.WHAT, **_spiking.WHAT, **_lifecycle.WHAT}


CAPTIONS: dict[str, Callable] = {
    "accuracy_by_variant": _cap_accuracy, "latency_vs_throughput": _cap_latency, "energy_by_batch": _cap_energy,
    "pareto_accuracy_energy": _cap_pareto, "difficulty_by_length": _cap_difficulty, "adaptive_router": _cap_router,
    "forecast_vs_actual": _cap_forecast, "forecast_mape_by_lead": _cap_mape, "forecast_skill": _cap_skill,
    "scheduler_front": _cap_schedule, "spiking_firing_rates": _cap_firing, "amortization": _cap_amortization,
}


# ---- all figures ------------------------------------------------------------------------------------

def save(fig, stem: str | Path) -> list[Path]:
    """Write ``stem``.pdf and ``stem``.png atomically."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    outs = []
    for ext in ("pdf", "png"):
        final = stem.with_suffix(f".{ext}")
        with io.atomic_file(final) as tmp:
            fig.savefig(tmp, format=ext, dpi=style.DPI, bbox_inches="tight", pad_inches=0.03)
        outs.append(final)
    plt.close(fig)
    return outs


def build_all(data: dict[str, Any]) -> dict[str, Any]:
    """Every figure (name -> matplotlib Figure) from the loaded tables (``load``)."""
    front = data["front"]
    figs = {
        "accuracy_by_variant": lambda: fig_accuracy(data["accuracy"], front),
        "latency_vs_throughput": lambda: fig_latency(data["energy"], front),
        "energy_by_batch": lambda: fig_energy_by_batch(data["energy"], data["accuracy"], front),
        "pareto_accuracy_energy": lambda: fig_pareto(front, data["accuracy"]),
        "difficulty_by_length": lambda: fig_difficulty(data["predictions"], data["by_length"], front),
        "adaptive_router": lambda: fig_router(data["predictions"]),
        "forecast_vs_actual": lambda: _single(forecast_vs_actual, data["forecasts"]),
        "forecast_mape_by_lead": lambda: _single(mape_by_lead, data["forecast_metrics"], size=(style.SINGLE * 1.5, 2.2)),
        "forecast_skill": lambda: _single(forecast_skill, data["forecast_metrics"], size=(style.SINGLE * 1.5, 2.4)),
        "scheduler_front": lambda: _single(scheduler_front, data["schedule"], size=(style.DOUBLE, 2.8)),
        "spiking_firing_rates": lambda: _single(firing_rates, data["eval_summary"], size=(style.SINGLE * 1.4, 2.2)),
        "amortization": lambda: _single(amortization, data["curves"], size=(style.DOUBLE, 3.0)),
    }
    return figs


def load(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
         schedule_path, eval_summary_path, energy_by_length_path, amortization_curves_path=None) -> dict[str, Any]:
    from greenbench.analysis.amortization import CURVE_SCHEMA
    from greenbench.carbon.routing import read_results

    accuracy, energy = io.read_parquet(accuracy_path), io.read_parquet(energy_path)
    return {
        "accuracy": accuracy, "energy": energy, "points": io.read_parquet(points_path),
        "front": pareto_table(energy, accuracy),
        "predictions": _predictions(list(prediction_files)),
        "by_length": io.read_parquet(energy_by_length_path),
        "forecasts": io.read_parquet(forecasts_path),
        "forecast_metrics": io.read_parquet(forecast_metrics_path),
        "schedule": read_results(schedule_path),
        "eval_summary": io.read_parquet(eval_summary_path),
        "curves": (io.read_parquet(amortization_curves_path) if amortization_curves_path
                   else pd.DataFrame(columns=CURVE_SCHEMA.names)),
    }


def write_all(data: dict[str, Any], out_dir: str | Path, names=None) -> tuple[list[Path], dict[str, list[str]]]:
    """Draw, check, save and caption every figure; returns the files and each figure's layout problems."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outs, problems = [], {}
    texts = captions(data)
    for name, build in build_all(data).items():
        if names is not None and name not in names:
            continue
        fig = build()
        problems[name] = check_layout(fig)
        for p in problems[name]:
            log.warning("figure %s: %s", name, p)
        outs += save(fig, out_dir / name)
        caption = out_dir / f"{name}.rst"
        with io.atomic_file(caption) as tmp:
            Path(tmp).write_text(texts.get(name, name) + "\n")
        outs.append(caption)
    return outs, problems


def make_all(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
             schedule_path, eval_summary_path, energy_by_length_path, out_dir, amortization_curves_path=None) -> list[Path]:
    data = load(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
                schedule_path, eval_summary_path, energy_by_length_path, amortization_curves_path)
    outs, problems = write_all(data, out_dir)
    log.info("wrote %d figure files to %s (%d layout problems)", len(outs), out_dir,
             sum(len(p) for p in problems.values()))
    return outs
