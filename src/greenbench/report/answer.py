"""The study's answer, generated from its tables, at a traffic level: per device and model, the greenest
configuration (variant x runtime x maximum batch) that loses at most ``max_accuracy_loss_pts`` points
against fp32 and whose *request* p95 latency (waiting for the batch plus computing it) stays within
``max_latency_p95_ms`` at that arrival rate, with the server's utilisation within ``max_utilisation``;
its J/inference and gCO2e per 1,000 inferences with their intervals, the runner-up and how sure the
ordering is (their paired ratio's 95% interval), and where and when to run it (the routing policies'
saving over serving from the nearest region), stated for the host class its trials ran on
(``greenbench.core.host``, read back from the measurements' provenance).

A measured cell's batch size is the *most* the server puts in a batch; at rate λ (requests/s) with a
dispatch timeout ``max_wait_ms`` the dispatched batch holds ``effective_batch`` = n̄ requests on average
(``greenbench.analysis.traffic``). The cell's modelled J/inference is the same variant/runtime/padding/
mode's measured J/inference interpolated at n̄ over the measured batch sizes (log-log, clamped to the
measured range; its interval ends and gCO2e likewise), and carries the cell's energy label: the idle
time between batches is not charged. Request p95 = wait p95 + compute p95 of a batch of n̄ (interpolated
from the measured per-call p95s): a conservative sum. Utilisation = λ x (seconds per inference at n̄);
above the bound the queue in front of the server (not modelled) would dominate, so the cell does not
qualify. Ties (modelled J/inference within ``TIE`` of the greenest) go to the smaller batch.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.analysis import traffic as queue
from greenbench.core import host
from greenbench.measure.energy import stopping

METRIC = "j_per_inf_gross"
CELL = ["device", "model", "variant", "batch_size", "padding", "mode"]
FAMILY = ["device", "model", "variant", "padding", "mode"]  # a cell less its batch size
TIE = 0.01  # modelled J/inference within 1% of the greenest: a tie, the smaller batch wins

# the answer's tables (paths.ANSWER, paths.ANSWER_TRAFFIC; the routing reads its cell from SERVED_COLUMNS below)
COLUMNS = (
    "device model traffic_rps variant batch_size padding mode effective_batch utilisation j_per_inf j_low j_high "
    "energy_label compute_p95_ms wait_p95_ms request_p50_ms request_p95_ms accuracy loss_pts delta_low_pts delta_high_pts "
    "g_per_1000 g_low "
    "g_high grid runner_up runner_batch_size runner_j_per_inf ratio_vs_runner ratio_low ratio_high qualifying reason"
).split()
_TEXT = {"device", "model", "variant", "padding", "mode", "energy_label", "grid", "runner_up", "reason"}
_INT = {"batch_size", "runner_batch_size", "qualifying"}
SCHEMA = pa.schema([(c, pa.string() if c in _TEXT else pa.int64() if c in _INT else pa.float64()) for c in COLUMNS])


def loglog(x: float, xs: Iterable[float], ys: Iterable[float]) -> float:
    """``ys`` over ``xs`` at ``x``, linear in log-log, clamped to the ends; knots with no positive value
    are left out (NaN when none is left)."""
    pairs = sorted((float(a), float(b)) for a, b in zip(xs, ys) if a > 0 and b == b and b > 0)
    if not pairs:
        return math.nan
    exact = [b for a, b in pairs if a == x]
    if exact:  # a measured batch size: its value as measured
        return exact[0]
    lx, ly = np.log([p[0] for p in pairs]), np.log([p[1] for p in pairs])
    return float(np.exp(np.interp(math.log(x), lx, ly)))


def measured_cells(
    energy: pd.DataFrame, accuracy: pd.DataFrame, carbon: pd.DataFrame | None, grid: str | None
) -> pd.DataFrame:
    """One row per measured cell: J/inference (mean, interval, label), per-call latency p50/p95,
    throughput, gCO2e per 1,000 at ``grid`` (interval; none without a ``carbon`` table) and the variant's
    accuracy loss against fp32."""
    j = energy[(energy["metric"] == METRIC) & energy["mean"].notna()][
        CELL + ["mean", "ci_low", "ci_high", "energy_label"]
    ].rename(columns={"mean": "j", "ci_low": "j_lo", "ci_high": "j_hi"})
    out = j
    for metric, name in (("latency_p50_ms", "p50"), ("latency_p95_ms", "p95"), ("throughput_per_s", "thr")):
        m = energy[energy["metric"] == metric][CELL + ["mean", "ci_low", "ci_high"]]
        m = m.rename(columns={"mean": name, "ci_low": f"{name}_lo", "ci_high": f"{name}_hi"})
        out = out.merge(m, on=CELL, how="left")
    if carbon is None:  # the served cell (``served_cell``): chosen on J/inference, never on gCO2e
        out = out.assign(g=np.nan, g_lo=np.nan, g_hi=np.nan)
    else:
        co2 = carbon[carbon["grid"] == grid][CELL + ["g_per_1000_inf", "ci_low", "ci_high"]]
        co2 = co2.rename(columns={"g_per_1000_inf": "g", "ci_low": "g_lo", "ci_high": "g_hi"})
        out = out.merge(co2, on=CELL, how="left")
    acc = accuracy[accuracy["status"] == "ok"].copy()
    for col in ("delta_ci_low", "delta_ci_high"):  # the paired interval (accuracy tables before it: none)
        if col not in acc:
            acc[col] = np.nan
    acc = acc[["device", "model", "variant", "accuracy", "delta_vs_fp32", "delta_ci_low", "delta_ci_high"]]
    out = out.merge(acc, on=["device", "model", "variant"], how="left")
    out["loss_pts"] = -100 * out["delta_vs_fp32"]
    out["delta_low_pts"], out["delta_high_pts"] = 100 * out["delta_ci_low"], 100 * out["delta_ci_high"]
    return out.sort_values(CELL).reset_index(drop=True)


def at_traffic(cells: pd.DataFrame, rate: float, settings: Mapping[str, Any]) -> pd.DataFrame:
    """Every measured cell served at ``rate`` requests/s: its effective batch, modelled J/inference and
    gCO2e (interval), request latency, utilisation, and whether (and why not) it qualifies."""
    wait_s = None if settings.get("max_wait_ms") is None else float(settings["max_wait_ms"]) / 1e3
    loss_bound, p95_bound = float(settings["max_accuracy_loss_pts"]), float(settings["max_latency_p95_ms"])
    util_bound = float(settings.get("max_utilisation", 0.8))
    rows = []
    for _, family in cells.groupby(FAMILY, sort=True):
        knots = family["batch_size"].to_numpy(float)
        for cell in family.itertuples(index=False):
            n = queue.mean_fill(rate, int(cell.batch_size), wait_s)
            at = {k: loglog(n, knots, family[k]) for k in ("j", "j_lo", "j_hi", "g", "g_lo", "g_hi", "p50", "p95")}
            thr = loglog(n, knots, family["thr"])
            thr_lo, thr_hi = loglog(n, knots, family["thr_lo"]), loglog(n, knots, family["thr_hi"])
            per_inf_s = 1.0 / thr if thr == thr else at["p50"] / 1e3 / n
            wait95 = 1e3 * queue.wait_quantile(0.95, rate, int(cell.batch_size), wait_s)
            wait50 = 1e3 * queue.wait_quantile(0.5, rate, int(cell.batch_size), wait_s)
            row = {
                k: getattr(cell, k)
                for k in CELL + ["energy_label", "accuracy", "loss_pts", "delta_low_pts", "delta_high_pts"]
            }
            row.update(
                traffic_rps=float(rate),
                effective_batch=n,
                utilisation=queue.utilisation(rate, per_inf_s),
                j_per_inf=at["j"],
                j_low=at["j_lo"],
                j_high=at["j_hi"],
                g_per_1000=at["g"],
                g_low=at["g_lo"],
                g_high=at["g_hi"],
                compute_p95_ms=at["p95"],
                wait_p95_ms=wait95,
                request_p50_ms=wait50 + at["p50"],
                request_p95_ms=wait95 + at["p95"],
                throughput_per_s=thr,
                throughput_low=thr_lo,
                throughput_high=thr_hi,
            )
            why = []
            if not row["loss_pts"] <= loss_bound + 1e-9:
                why.append("accuracy")
            if not row["request_p95_ms"] <= p95_bound:
                why.append("latency")
            if not row["utilisation"] <= util_bound:
                why.append("utilisation")
            row["qualifies"], row["why_not"] = not why, ",".join(why)
            rows.append(row)
    return pd.DataFrame(rows)


def _pick(cells: pd.DataFrame) -> pd.Series:
    """The greenest of ``cells`` (sorted by J/inference), a tie within ``TIE`` going to the smaller batch."""
    tied = cells[cells["j_per_inf"] <= cells["j_per_inf"].iloc[0] * (1 + TIE)]
    return tied.sort_values(["batch_size", "j_per_inf"], kind="stable").iloc[0]


def choose(group: pd.DataFrame) -> tuple[pd.Series | None, pd.Series | None]:
    """The greenest qualifying cell and the runner-up: the greenest of the rest, less the best's own
    configuration at the other batch sizes it ties with (the same thing served at this traffic)."""
    ok = group[group["qualifies"] & group["j_per_inf"].notna()].sort_values(["j_per_inf", "batch_size"])
    if ok.empty:
        return None, None
    best = _pick(ok)
    same = (ok[FAMILY] == best[FAMILY]).all(axis=1) & (ok["j_per_inf"] <= best["j_per_inf"] * (1 + TIE))
    rest = ok[~same]
    return best, (_pick(rest) if len(rest) else None)


def _trial_values(measurements: pd.DataFrame, cell: Mapping[str, Any], n: float) -> pd.Series:
    """Per trial, the cell's J/inference at batch ``n`` interpolated as the answer's (log-log between the
    two measured batch sizes around it, both measured in that trial)."""
    m = measurements
    for key in FAMILY:
        m = m[m[key] == cell[key]]
    wide = m.pivot_table(index="trial", columns="batch_size", values=METRIC, aggfunc="mean")
    knots = sorted(float(b) for b in wide.columns)
    if not knots:
        return pd.Series(dtype=float)
    lo = max([k for k in knots if k <= n] or [knots[0]])
    hi = min([k for k in knots if k >= n] or [knots[-1]])
    pair = wide[[c for c in wide.columns if float(c) in (lo, hi)]].dropna()
    pair = pair[(pair > 0).all(axis=1)]
    return pd.Series([loglog(n, pair.columns, row) for _, row in pair.iterrows()], index=pair.index, dtype=float)


def ordering(
    measurements: pd.DataFrame,
    best: Mapping[str, Any],
    runner: Mapping[str, Any],
    first_stage: int,
    level: float = 0.95,
):
    """The best cell's J/inference over the runner-up's, paired by trial (Stein's interval); each at its
    ``effective_batch`` where given (interpolated per trial), else at its measured batch size."""
    a = _trial_values(measurements, best, float(best.get("effective_batch", best["batch_size"])))
    b = _trial_values(measurements, runner, float(runner.get("effective_batch", runner["batch_size"])))
    pairs = pd.DataFrame({"a": a, "b": b}).dropna()
    if len(pairs) < 2:
        return None
    trials = pd.Series(pairs.index, index=pairs.index)
    return stopping.paired_log_ratio_by_trial(
        pairs["a"], pairs["b"], trials, first_stage or int(trials.max()) + 1, level
    )


def _nothing(device, model, rate, grid, group: pd.DataFrame, settings) -> dict[str, Any]:
    counts = {k: int(group["why_not"].str.contains(k).sum()) for k in ("accuracy", "latency", "utilisation")}
    parts = {
        "accuracy": f"{counts['accuracy']} lose more than {float(settings['max_accuracy_loss_pts']):g} pts",
        "latency": f"{counts['latency']} exceed request p95 {float(settings['max_latency_p95_ms']):g} ms",
        "utilisation": f"{counts['utilisation']} exceed utilisation {float(settings.get('max_utilisation', 0.8)):g}",
    }
    detail = "; ".join(parts[k] for k, c in counts.items() if c)
    row = {c: None for c in COLUMNS}
    row.update(device=device, model=model, traffic_rps=float(rate), grid=grid, qualifying=0)
    row["reason"] = f"no measured cell qualifies at {rate:.3g} requests/s" + (f" ({detail})" if detail else "")
    return row


def answer(
    energy: pd.DataFrame,
    accuracy: pd.DataFrame,
    carbon: pd.DataFrame,
    measurements: pd.DataFrame,
    settings: Mapping[str, Any],
    rate: float | None = None,
    first_stage: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per device and model (columns ``COLUMNS``): the greenest qualifying cell at ``rate``
    requests/s (default ``settings['traffic']``) and the runner-up."""
    rate = float(settings["traffic"] if rate is None else rate)
    grid = settings["grid"]
    rows = []
    for device, model, group, best, runner in chosen(energy, accuracy, carbon, settings, rate):
        if best is None:
            rows.append(_nothing(device, model, rate, grid, group, settings))
            continue
        ratio = ordering(measurements, best, runner, first_stage, level) if runner is not None else None
        row = {c: best[c] for c in COLUMNS if c in best.index}
        row.update(
            grid=grid,
            batch_size=int(best["batch_size"]),
            runner_up=None if runner is None else runner["variant"],
            runner_batch_size=None if runner is None else int(runner["batch_size"]),
            runner_j_per_inf=math.nan if runner is None else float(runner["j_per_inf"]),
            ratio_vs_runner=math.nan if ratio is None else ratio.estimate,
            ratio_low=math.nan if ratio is None else ratio.low,
            ratio_high=math.nan if ratio is None else ratio.high,
            qualifying=int(group["qualifies"].sum()),
            reason="",
        )
        rows.append(row)
    answered = {(r["device"], r["model"]) for r in rows}
    for device, model in sorted(set(zip(energy["device"], energy["model"])) - answered) if len(energy) else []:
        row = {c: None for c in COLUMNS}
        row.update(device=device, model=model, traffic_rps=float(rate), grid=grid, qualifying=0)
        row["reason"] = f"{NO_ENERGY} ({_no_energy_reason(measurements, device, model)})"
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def chosen(energy: pd.DataFrame, accuracy: pd.DataFrame, carbon: pd.DataFrame | None, settings, rate: float):
    """Per device and model with a measured cell: ``(device, model, its cells at rate, best, runner-up)``,
    the answer's choice (``choose``: on modelled J/inference within the accuracy, latency and utilisation
    bounds). The carbon table only adds gCO2e columns (None: left out); it never decides the choice."""
    served = at_traffic(measured_cells(energy, accuracy, carbon, settings.get("grid")), rate, settings)
    for (device, model), group in served.groupby(["device", "model"], sort=True) if len(served) else []:
        best, runner = choose(group)
        yield device, model, group, best, runner


# the answer's cell as the routing serves it (paths.SERVED, rule `served_cell`; greenbench.carbon.served reads it)
SERVED_COLUMNS = (
    "device model traffic_rps variant batch_size padding mode effective_batch j_per_inf j_low j_high energy_label "
    "request_p50_ms request_p95_ms qualifying reason"
).split()
SERVED_SCHEMA = pa.schema([SCHEMA.field(c) for c in SERVED_COLUMNS])


def served_cell(
    energy: pd.DataFrame, accuracy: pd.DataFrame, settings: Mapping[str, Any], rate: float | None = None
) -> pd.DataFrame:
    """The answer's cell per device and model (columns ``SERVED_COLUMNS``), chosen exactly as ``answer``
    chooses it (``chosen``) from the energy and accuracy tables alone: the routing that serves it reads no
    carbon table, so a grid intensity edit reruns no routing. A device and model with no qualifying cell
    has a row with no variant and the reason, as in the answer's table."""
    rate = float(settings["traffic"] if rate is None else rate)
    rows = []
    for device, model, group, best, _ in chosen(energy, accuracy, None, settings, rate):
        if best is None:
            rows.append(_nothing(device, model, rate, None, group, settings))
            continue
        row = {c: best[c] for c in SERVED_COLUMNS if c in best.index}
        row.update(batch_size=int(best["batch_size"]), qualifying=int(group["qualifies"].sum()), reason="")
        rows.append(row)
    answered = {(r["device"], r["model"]) for r in rows}
    for device, model in sorted(set(zip(energy["device"], energy["model"])) - answered) if len(energy) else []:
        row = {c: None for c in SERVED_COLUMNS}
        row.update(device=device, model=model, traffic_rps=rate, qualifying=0)
        row["reason"] = NO_ENERGY
        rows.append(row)
    return pd.DataFrame(rows, columns=SERVED_COLUMNS)


NO_ENERGY = "no answer: no cell has a J/inference value"
GET_ENERGY = {
    "cpu": "install the `energy` extra (codecarbon: an estimate) or give this user read access to RAPL "
    "(/sys/class/powercap: measured; docs/measurement.md)",
    "cuda": "install the `gpu` extra (nvidia-ml-py) on a host whose NVIDIA driver reports energy (docs/measurement.md)",
}


def ranked_without_energy(
    table: pd.DataFrame, energy: pd.DataFrame, accuracy: pd.DataFrame, settings: Mapping[str, Any], top: int = 5
) -> list[str]:
    """For each device and model the answer could not answer for want of energy values: how to get them,
    and its cells ranked by what was measured (per-call throughput, within the accuracy bound and the p95
    per-call latency bound), as Markdown lines. Empty where every answer has its energy."""
    lines: list[str] = []
    missing = table[table["reason"].fillna("").str.startswith(NO_ENERGY)] if len(table) else table
    for r in missing.itertuples():
        cells = energy[(energy["device"] == r.device) & (energy["model"] == r.model)]
        thr = cells[cells["metric"] == "throughput_per_s"][CELL + ["mean", "ci_low", "ci_high"]]
        p95 = cells[cells["metric"] == "latency_p95_ms"][CELL + ["mean"]].rename(columns={"mean": "p95"})
        acc = accuracy[(accuracy["device"] == r.device) & (accuracy["model"] == r.model)]
        acc = acc[acc["status"] == "ok"][["variant", "delta_vs_fp32"]]
        ranked = thr.merge(p95, on=CELL, how="left").merge(acc, on="variant", how="inner")
        ranked["loss_pts"] = -100 * ranked["delta_vs_fp32"]
        keep = (ranked["loss_pts"] <= float(settings["max_accuracy_loss_pts"])) & (
            ranked["p95"] <= float(settings["max_latency_p95_ms"])
        )
        ranked = ranked[keep & ranked["mean"].notna()].sort_values("mean", ascending=False).head(top)
        lines += [
            f"**{r.device} / {r.model}: no energy value, so no greenest cell.** To measure it: "
            f"{GET_ENERGY.get(r.device, 'an energy meter for this device (docs/measurement.md)')}. What was measured "
            f"still ranks the cells: the {len(ranked)} fastest within {float(settings['max_accuracy_loss_pts']):g} "
            f"accuracy point(s) of fp32 and a per-call p95 of {float(settings['max_latency_p95_ms']):g} ms "
            "(throughput is not energy: a faster cell is often, not always, the greener one):",
            "",
        ]
        if ranked.empty:
            lines += ["_no measured cell is within both bounds_", ""]
            continue
        lines += [
            "| cell | batch | sentences/s (95% CI) | p95 per call (ms) | accuracy Δ vs fp32 (pts) |",
            "|---|---|---|---|---|",
        ]
        for c in ranked.itertuples():
            lines.append(
                f"| {c.variant} ({c.mode}, {c.padding}) | {c.batch_size} | {c.mean:.0f} [{c.ci_low:.0f}, "
                f"{c.ci_high:.0f}] | {c.p95:.1f} | {-c.loss_pts:+.2f} |"
            )
        lines.append("")
    return lines


def _no_energy_reason(measurements: pd.DataFrame, device: str, model: str) -> str:
    """Why a device's cells have no J/inference: the energy label and what the trials' rows say about it."""
    m = measurements
    if len(m) and {"device", "model"} <= set(m.columns):
        m = m[(m["device"] == device) & (m["model"] == model)]
    said = []
    for column in ("reason", "flags"):
        if column in m:
            said += [str(v) for v in m[column].dropna() if str(v).strip()]
    unavailable = [part.strip() for text in said for part in text.split(";") if "unavailable" in part.lower()]
    common = pd.Series(unavailable or said).value_counts().index[0] if (unavailable or said) else ""
    return "every energy value is unavailable" + (f": {common}" if common else "")


# every runtime's greenest qualifying cell (paths.ANSWER_RUNTIMES) and the best composed recipe against the best
# single recipe (paths.ANSWER_COMPOSED), at the configured traffic, by the answer's own rule
RUNTIME_COLUMNS = (
    "device model runtime variant batch_size effective_batch throughput_per_s throughput_low throughput_high "
    "j_per_inf j_low j_high energy_label accuracy loss_pts qualifying reason"
).split()
COMPOSED_COLUMNS = (
    "device model composed composed_batch_size composed_j_per_inf composed_loss_pts single single_batch_size "
    "single_j_per_inf single_loss_pts ratio ratio_low ratio_high energy_label"
).split()


def _schema(columns: list[str], text: set[str], ints: set[str]) -> pa.Schema:
    return pa.schema([(c, pa.string() if c in text else pa.int64() if c in ints else pa.float64()) for c in columns])


RUNTIME_SCHEMA = _schema(
    RUNTIME_COLUMNS, {"device", "model", "runtime", "variant", "energy_label", "reason"}, {"batch_size", "qualifying"}
)
COMPOSED_SCHEMA = _schema(
    COMPOSED_COLUMNS,
    {"device", "model", "composed", "single", "energy_label"},
    {"composed_batch_size", "single_batch_size"},
)


def _served(energy, accuracy, carbon, settings) -> pd.DataFrame:
    from greenbench.core.names import CHAIN_SEP, split_name

    served = at_traffic(
        measured_cells(energy, accuracy, carbon, settings["grid"]), float(settings["traffic"]), settings
    )
    if len(served):
        names = [split_name(str(v)) for v in served["variant"]]
        served["runtime"] = [runtime for _, runtime in names]
        served["composed"] = [CHAIN_SEP in recipe for recipe, _ in names]
    return served


def by_runtime(energy, accuracy, carbon, settings: Mapping[str, Any]) -> pd.DataFrame:
    """Per device, model and runtime (``eager`` = PyTorch as written): its greenest cell that qualifies at the
    configured traffic, with sentences/s and J/inference at the mean dispatched batch (intervals), or why none
    qualifies."""
    served = _served(energy, accuracy, carbon, settings)
    rows = []
    for (device, model, runtime), group in (
        served.groupby(["device", "model", "runtime"], sort=True) if len(served) else []
    ):
        best, _ = choose(group)
        row = {c: None for c in RUNTIME_COLUMNS}
        row.update(device=device, model=model, runtime=runtime, qualifying=int(group["qualifies"].sum()), reason="")
        if best is None:
            row["reason"] = _nothing(device, model, float(settings["traffic"]), settings["grid"], group, settings)[
                "reason"
            ]
        else:
            row.update({c: best[c] for c in RUNTIME_COLUMNS if c in best.index and c not in ("runtime", "qualifying")})
            row["batch_size"] = int(best["batch_size"])
        rows.append(row)
    return pd.DataFrame(rows, columns=RUNTIME_COLUMNS)


def composed_vs_single(
    energy, accuracy, carbon, measurements, settings: Mapping[str, Any], first_stage: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Per device and model with a qualifying composed cell (a chain ``<structural>+<numeric>@<runtime>``):
    the greenest such cell against the greenest qualifying single-recipe cell, their J/inference ratio paired
    by trial (95% interval) and both accuracy losses."""
    served = _served(energy, accuracy, carbon, settings)
    rows = []
    for (device, model), group in served.groupby(["device", "model"], sort=True) if len(served) else []:
        composed, _ = choose(group[group["composed"]])
        single, _ = choose(group[~group["composed"]])
        if composed is None or single is None:
            continue
        ratio = ordering(measurements, composed, single, first_stage, level)
        rows.append(
            {
                "device": device,
                "model": model,
                "composed": composed["variant"],
                "composed_batch_size": int(composed["batch_size"]),
                "composed_j_per_inf": float(composed["j_per_inf"]),
                "composed_loss_pts": float(composed["loss_pts"]),
                "single": single["variant"],
                "single_batch_size": int(single["batch_size"]),
                "single_j_per_inf": float(single["j_per_inf"]),
                "single_loss_pts": float(single["loss_pts"]),
                "ratio": math.nan if ratio is None else ratio.estimate,
                "ratio_low": math.nan if ratio is None else ratio.low,
                "ratio_high": math.nan if ratio is None else ratio.high,
                "energy_label": composed["energy_label"],
            }
        )
    return pd.DataFrame(rows, columns=COMPOSED_COLUMNS)


def runtimes_markdown(runtimes: pd.DataFrame, composed: pd.DataFrame | None = None) -> list[str]:
    """Every runtime's greenest qualifying cell side by side, then the composed-vs-single comparison."""
    lines = [
        "| device / model | runtime | greenest qualifying cell | max batch | sentences/s | J/inference | accuracy vs fp32 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runtimes.itertuples():
        if _none(r.variant):
            why = str(r.reason).partition(" (")[2].rstrip(")")
            lines.append(f"| {r.device} / {r.model} | {r.runtime} | nothing qualifies ({why or 'no cell'}) | | | | |")
            continue
        lines.append(
            f"| {r.device} / {r.model} | {r.runtime} | `{r.variant}` | {int(r.batch_size)} | "
            f"{r.throughput_per_s:.1f} [{r.throughput_low:.1f}, {r.throughput_high:.1f}] | "
            f"{r.j_per_inf:.4f} [{r.j_low:.4f}, {r.j_high:.4f}] ({r.energy_label}) | {-r.loss_pts:+.2f} pts |"
        )
    for r in composed.itertuples() if composed is not None else []:
        sure = (
            "no paired trials to compare"
            if r.ratio_low != r.ratio_low
            else "not distinguishable"
            if r.ratio_low <= 1 <= r.ratio_high
            else "lower, with 95% confidence"
            if r.ratio_high < 1
            else "higher, with 95% confidence"
        )
        lines += [
            "",
            f"Composed recipes, {r.device} / {r.model}: the greenest qualifying composed cell `{r.composed}` "
            f"(batch {int(r.composed_batch_size)}, {r.composed_j_per_inf:.4f} J/inference, {-r.composed_loss_pts:+.2f} pts "
            f"vs fp32) against the greenest qualifying single-recipe cell `{r.single}` (batch "
            f"{int(r.single_batch_size)}, {r.single_j_per_inf:.4f} J/inference, {-r.single_loss_pts:+.2f} pts): "
            f"composed/single = {r.ratio:.3f} [{r.ratio_low:.3f}, {r.ratio_high:.3f}] ({sure}; paired by trial).",
        ]
    return lines


def traffic_table(
    energy, accuracy, carbon, measurements, settings: Mapping[str, Any], first_stage: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """The answer at each of ``settings['traffic_levels']``: one row per device, model and level."""
    frames = [
        answer(energy, accuracy, carbon, measurements, settings, rate, first_stage, level)
        for rate in sorted(float(r) for r in settings["traffic_levels"])
    ]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return out.sort_values(["device", "model", "traffic_rps"], kind="stable").reset_index(drop=True)


def host_lines(records: list[Mapping[str, Any]] | None, table: pd.DataFrame | None = None) -> list[str]:
    """ "Host class: …; N threads; RAPL …" for the trials' provenance records (``host.recorded``): one line,
    or one per device where the devices' hosts differ. Where RAPL was not readable, the CPU answer's energy
    label says what CPU energy was instead (estimated, or unavailable)."""
    by_device: dict[Any, list[str]] = {}
    for record in records or []:
        described = by_device.setdefault(record.get("device"), [])
        text = host.describe(record["host_fingerprint"])
        if text not in described:
            described.append(text)
    if not by_device:
        return ["Host class: not recorded (the measurements' provenance has no host fingerprint)."]
    cpu_note = ""
    if (
        table is not None
        and "energy_label" in table
        and any(not r["host_fingerprint"].get("rapl_readable") for r in records or [] if r.get("device") == "cpu")
    ):
        labels = sorted({str(v) for v in table.loc[table["device"] == "cpu", "energy_label"].dropna()} - {"measured"})
        cpu_note = f" (CPU energy {' or '.join(labels)})" if labels else ""
    same = len({tuple(d) for d in by_device.values()}) == 1
    groups = [(None, next(iter(by_device.values())))] if same else sorted(by_device.items(), key=lambda kv: str(kv[0]))
    out = []
    for device, texts in groups:
        note = cpu_note if device in (None, "cpu") and "cpu" in by_device else ""
        label = "Host class" if device is None else f"Host class ({device})"
        out.append(f"{label}: {' | '.join(texts)}{note}.")
    return out


def _rate(rps: float) -> str:
    return f"{rps:.3g} requests/s ({rps * 3600:,.0f}/hour)"


def _none(value) -> bool:
    """No cell: None as built, null (NaN) as read back from the Parquet table."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _paired(r) -> str:
    """ ", paired 95% CI [lo, hi]" of the accuracy difference against fp32 on the same sentences."""
    lo, hi = getattr(r, "delta_low_pts", math.nan), getattr(r, "delta_high_pts", math.nan)
    return f", paired 95% CI [{lo:+.2f}, {hi:+.2f}]" if lo == lo and hi == hi else ""


def _bullet(r) -> str:
    if _none(r.variant):
        return f"- **{r.device} / {r.model}**: {r.reason}."
    sure = (
        ("not distinguishable from it" if r.ratio_low <= 1 <= r.ratio_high else "lower, with 95% confidence")
        if r.ratio_low == r.ratio_low
        else "no paired trials to compare"
    )
    return (
        f"- **{r.device} / {r.model}** at {_rate(r.traffic_rps)}: **run `{r.variant}` at batch {int(r.batch_size)}** "
        f"({r.padding} padding, {r.mode}; batches of {r.effective_batch:.2f} on average, utilisation "
        f"{100 * r.utilisation:.2g}%): request p95 {r.request_p95_ms:.1f} ms (wait {r.wait_p95_ms:.1f} + compute "
        f"{r.compute_p95_ms:.1f}), accuracy {r.accuracy:.4f} ({-r.loss_pts:+.2f} pts vs fp32{_paired(r)}), "
        f"**{r.j_per_inf:.4f} J/inference** [{r.j_low:.4f}, {r.j_high:.4f}] ({r.energy_label}), "
        f"**{r.g_per_1000:.4f} gCO2e per 1,000 inferences** [{r.g_low:.4f}, {r.g_high:.4f}] at {r.grid}. "
        + (
            f"Runner-up: `{r.runner_up}` at batch {int(r.runner_batch_size)} ({r.runner_j_per_inf:.4f} J/inference); "
            f"best/runner-up = {r.ratio_vs_runner:.3f} [{r.ratio_low:.3f}, {r.ratio_high:.3f}]: {sure}. "
            if not _none(r.runner_up)
            else "No runner-up qualifies. "
        )
        + f"{r.qualifying} cells qualify."
    )


def traffic_markdown(traffic: pd.DataFrame) -> list[str]:
    """The "at this traffic, run this" table: one line per device, model and traffic level."""
    lines = [
        "| device / model | traffic | run | max batch | mean batch | request p95 ms | utilisation | J/inference | "
        "gCO2e / 1,000 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in traffic.itertuples():
        if _none(r.variant):
            why = r.reason.partition(" (")[2].rstrip(")")
            text = f"nothing qualifies ({why})" if why else "nothing qualifies"
            lines.append(f"| {r.device} / {r.model} | {_rate(r.traffic_rps)} | {text} | | | | | | |")
            continue
        lines.append(
            f"| {r.device} / {r.model} | {_rate(r.traffic_rps)} | `{r.variant}` | {int(r.batch_size)} | "
            f"{r.effective_batch:.2f} | {r.request_p95_ms:.1f} | {100 * r.utilisation:.2g}% | "
            f"{r.j_per_inf:.4f} [{r.j_low:.4f}, {r.j_high:.4f}] ({r.energy_label}) | {r.g_per_1000:.4f} |"
        )
    return lines


def to_markdown(
    table: pd.DataFrame,
    where: list[str],
    settings: Mapping[str, Any],
    hosts: list[Mapping[str, Any]] | None = None,
    traffic: pd.DataFrame | None = None,
    runtimes: pd.DataFrame | None = None,
    composed: pd.DataFrame | None = None,
    without_energy: list[str] | None = None,
) -> str:
    """The answer's Markdown from its tables (``table``: ``answer``'s rows at the configured traffic;
    ``traffic``: ``traffic_table``'s); ``hosts``: the trials' provenance records with a host fingerprint;
    ``without_energy``: ``ranked_without_energy``'s lines."""
    wait = settings.get("max_wait_ms")
    lines = [
        "# The study's answer",
        "",
        *host_lines(hosts, table),
        "",
        f"The greenest configuration per device that loses at most {settings['max_accuracy_loss_pts']:g} accuracy "
        f"point(s) against fp32 and keeps the p95 *request* latency (waiting for the batch to fill, "
        + ("up to the full batch" if wait is None else f"at most {float(wait):g} ms")
        + f", plus computing it) within {settings['max_latency_p95_ms']:g} ms at the traffic, with the server "
        f"busy at most {100 * float(settings.get('max_utilisation', 0.8)):g}% of the time (Poisson arrivals; "
        f"energy per inference interpolated at the mean dispatched batch, idle time between batches not charged; "
        f"gCO2e at grid {settings['grid']}). The accuracy bound applies to the point estimate; its paired 95% "
        f"interval against fp32 on the same sentences (paired bootstrap, McNemar in tables.md) is reported beside "
        f"it. Generated from results/stats; 95% intervals. An energy interval covers the trial-to-trial noise of "
        f"this run on this host only: not how far a rerun moves it (docs/reproducibility.md, rerun variance), "
        f"nor another host class.",
        "",
    ]
    for r in table.itertuples():
        lines += [_bullet(r), ""]
    lines += without_energy or []
    if traffic is not None and len(traffic):
        lines += ["At this traffic, run this:", "", *traffic_markdown(traffic), ""]
    if runtimes is not None and len(runtimes):
        lines += [
            "Every runtime's greenest qualifying cell at the configured traffic (sentences/s at the mean batch):",
            "",
            *runtimes_markdown(runtimes, composed),
            "",
        ]
    if where:
        lines += [
            "Where and when to run it (routing simulation serving the cell above; `report.where`):",
            "",
            *where,
            "",
        ]
    return "\n".join(lines)
