"""Every figure and caption together: the caption and figure registries, loading the tables, drawing,
checking, saving and captioning them all (``make_all``, the figures job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from greenbench.core import io
from greenbench.core.log import get_logger
from greenbench.report import style
from greenbench.report.figures.common import _rst, pareto_table
from greenbench.report.figures.difficulty_by_length import _predictions
from greenbench.report.figures.figure import ordered
from greenbench.report.figures.layout import check_layout

log = get_logger("greenbench.report.figures")


def captions(data: dict[str, Any]) -> dict[str, str]:
    """One reStructuredText caption per figure: what it shows, then its key numbers from the tables."""
    out = {}
    for figure in ordered():
        try:
            what, numbers = figure.caption(data)
        except Exception as exc:  # a caption never stops the figures; it says what went wrong
            log.warning("caption of %s: %s", figure.name, exc)
            what, numbers = figure.what, [f"key numbers unavailable: {exc}"]
        body = _rst(what) + "\n\n" + ("\n".join(f"- {_rst(n)}" for n in numbers) if numbers else "- no data")
        out[figure.name] = body + "\n"
    return out


def caption_what() -> dict[str, str]:
    """What each figure shows (its caption without the numbers)."""
    return {figure.name: figure.what for figure in ordered()}


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


def build_all(data: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Every figure (name -> a function drawing it) from the loaded tables (``load``), in figure order."""
    return {figure.name: (lambda figure=figure: figure.draw(data)) for figure in ordered()}


def load(
    accuracy_path,
    energy_path,
    points_path,
    prediction_files,
    forecasts_path,
    forecast_metrics_path,
    schedule_path,
    eval_summary_path,
    energy_by_length_path,
    amortization_curves_path=None,
    ratios_path=None,
    amortization_path=None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The tables every figure draws from, and the figures job's ``settings`` (``wiring.figures``: the
    answer's bounds) under ``settings``."""
    from greenbench.analysis.amortization import BREAK_EVEN_SCHEMA, CURVE_SCHEMA

    accuracy, energy = io.read_parquet(accuracy_path), io.read_parquet(energy_path)
    ratios = io.read_parquet(ratios_path) if ratios_path else None
    return {
        "settings": dict(settings or {}),
        "accuracy": accuracy,
        "energy": energy,
        "ratios": ratios,
        "points": io.read_parquet(points_path),
        "front": pareto_table(energy, accuracy, ratios),
        "predictions": _predictions(list(prediction_files)),
        "by_length": io.read_parquet(energy_by_length_path),
        "forecasts": io.read_parquet(forecasts_path),
        "forecast_metrics": io.read_parquet(forecast_metrics_path),
        "schedule": schedule_table(schedule_path),
        "eval_summary": io.read_parquet(eval_summary_path),
        "curves": (
            io.read_parquet(amortization_curves_path)
            if amortization_curves_path
            else pd.DataFrame(columns=CURVE_SCHEMA.names)
        ),
        "break_even": (
            io.read_parquet(amortization_path) if amortization_path else pd.DataFrame(columns=BREAK_EVEN_SCHEMA.names)
        ),
    }


# what a schedule file's metadata records that its figure draws (the SLO line, the deferral window's label)
SCHEDULE_METADATA = ("slo_ms", "deferral_window_h")


def schedule_table(paths) -> pd.DataFrame:
    """Every scenario's schedule results (``routing.read_results``) with the settings their files'
    metadata record (``SCHEDULE_METADATA``) as columns, NaN where a file does not record one."""
    from greenbench.carbon.routing import RESULT_SCHEMA, read_results

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    frames = []
    for path in paths:
        frame, meta = read_results(path), io.read_metadata(path)
        for key in SCHEDULE_METADATA:
            if key not in frame:
                frame[key] = float(meta[key]) if meta.get(key) is not None else float("nan")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESULT_SCHEMA.names)


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


def make_all(
    accuracy_path,
    energy_path,
    points_path,
    prediction_files,
    forecasts_path,
    forecast_metrics_path,
    schedule_path,
    eval_summary_path,
    energy_by_length_path,
    out_dir,
    amortization_curves_path=None,
    ratios_path=None,
    amortization_path=None,
    settings: dict[str, Any] | None = None,
) -> list[Path]:
    data = load(
        accuracy_path,
        energy_path,
        points_path,
        prediction_files,
        forecasts_path,
        forecast_metrics_path,
        schedule_path,
        eval_summary_path,
        energy_by_length_path,
        amortization_curves_path,
        ratios_path=ratios_path,
        settings=settings,
        amortization_path=amortization_path,
    )
    outs, problems = write_all(data, out_dir)
    log.info(
        "wrote %d figure files to %s (%d layout problems)", len(outs), out_dir, sum(len(p) for p in problems.values())
    )
    return outs
