"""Cross-key rules the JSON schema cannot say (cells, runtimes, forecasts, energy, dates, the served cell),
checked before any job runs; each message names the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


from greenbench.config.devices import resolve_devices


def _runtime_errors(study: Mapping[str, Any]) -> list[str]:
    from greenbench.cells.runtimes import RUNTIMES, chain_problem
    from greenbench.cells.variants import REGISTRY
    from greenbench.core.names import CHAIN_SEP

    out = []
    for runtime, recipes in (study.get("runtimes") or {}).items():
        if runtime not in RUNTIMES:
            out.append(
                f"config key 'study.runtimes.{runtime}': unknown runtime (known: {', '.join(sorted(RUNTIMES))}; "
                "eager is every name in study.variants)"
            )
        for i, recipe in enumerate([] if recipes == "all" else recipes):
            if CHAIN_SEP in recipe:
                why = chain_problem(recipe, runtime) if runtime in RUNTIMES else None
                if why:
                    out.append(f"config key 'study.runtimes.{runtime}[{i}]': {why}")
            elif recipe not in REGISTRY:
                out.append(
                    f"config key 'study.runtimes.{runtime}[{i}]': unknown variant '{recipe}' "
                    f"(known: {', '.join(sorted(REGISTRY))})"
                )
    return out


def study_cells(study: Mapping[str, Any]) -> list[str]:
    """``study.variants`` then, per runtime of ``study.runtimes``, ``<recipe>@<runtime>`` for the
    recipes it names (``all``: the eager variants), without repeats: every cell the study runs."""
    from greenbench.core.names import cell_name, split_name

    eager = list(study.get("variants", []))
    cells = list(eager)
    for runtime, recipes in (study.get("runtimes") or {}).items():
        for recipe in [split_name(v)[0] for v in eager] if recipes == "all" else recipes:
            name = cell_name(recipe, runtime)
            if name not in cells:
                cells.append(name)
    return cells


def semantic_errors(config: Mapping[str, Any], files: bool = True) -> list[str]:
    """Cross-key checks the schema cannot express. ``files`` False: leave out the checks of input
    files (carbon traces, model checkpoints) — for ``gpu-check`` on a node that has the kit instead."""
    from greenbench.cells.runtimes import RUNTIMES, chain_problem
    from greenbench.cells.variants import REGISTRY
    from greenbench.core.names import CHAIN_SEP, EAGER, chain_parts, split_name

    out = []
    models = config.get("models", {})
    for i, name in enumerate(config.get("study", {}).get("models", [])):
        if name not in models:
            out.append(
                f"config key 'study.models[{i}]': model '{name}' is not defined under 'models' "
                f"(defined: {', '.join(sorted(models)) or 'none'})"
            )
    out += _runtime_errors(config.get("study", {}))
    for i, name in enumerate(config.get("study", {}).get("variants", [])):
        recipe, runtime = split_name(name)
        if CHAIN_SEP in recipe:  # <structural>+<numeric>@<runtime>: read with its first step's blocks below
            why = chain_problem(recipe, runtime)
            if why:
                out.append(f"config key 'study.variants[{i}]': {why}")
                continue
            recipe = chain_parts(recipe)[0]
        if recipe not in REGISTRY:
            out.append(
                f"config key 'study.variants[{i}]': unknown variant '{recipe}' (known: {', '.join(sorted(REGISTRY))})"
            )
            continue
        if runtime != EAGER and runtime not in RUNTIMES:
            out.append(
                f"config key 'study.variants[{i}]': unknown runtime '{runtime}' in '{name}' "
                f"(known: {', '.join(sorted(RUNTIMES))})"
            )
        for block in REGISTRY[recipe].config_blocks:
            if block not in config.get("variants", {}):
                out.append(f"config key 'variants.{block}': required by variant '{recipe}' (study.variants[{i}])")
    for device, tiers in config.get("variants", {}).get("adaptive", {}).get("tiers", {}).items():
        if len(tiers) == 2 and tiers[0] == tiers[1]:
            out.append(
                f"config key 'variants.adaptive.tiers.{device}': the cheap and the precise tier are both "
                f"'{tiers[0]}' (the router would choose between a variant and itself)"
            )
        for i, tier in enumerate(tiers):
            key = f"config key 'variants.adaptive.tiers.{device}[{i}]'"
            if tier not in REGISTRY:
                out.append(f"{key}: unknown variant '{tier}'")
            elif REGISTRY[tier].build is not None or device not in REGISTRY[tier].devices:
                out.append(f"{key}: '{tier}' cannot be a tier on {device}")
    carbon = config.get("carbon", {})
    zones = set(carbon.get("zones", []))
    sched = carbon.get("schedule", {})
    for key in ("origin_shares", "latency_ms"):
        if key in sched and set(sched[key]) != zones:
            out.append(
                f"config key 'carbon.schedule.{key}': must name exactly the zones in carbon.zones "
                f"({', '.join(sorted(zones))}), has {', '.join(sorted(sched[key]))}"
            )
    for origin, row in sched.get("latency_ms", {}).items():
        if set(row) != zones:
            out.append(
                f"config key 'carbon.schedule.latency_ms.{origin}': must give a latency to every zone in carbon.zones"
            )
    from greenbench.carbon.traces import em_filename, header_errors, resolve_sources, trace_file

    if files and not carbon.get("sources"):  # the Electricity Maps exports: one per zone and year, kept or mirrored
        from greenbench.pipeline import paths

        absent = [
            em_filename(z, y)
            for z in carbon.get("zones", [])
            for y in sorted(carbon.get("years", []))
            if trace_file(z, y, paths.CARBON_TRACE_CSV.format(zone=z, year=y)) is None
        ]
        if absent:
            import os

            out.append(
                f"config key 'carbon.zones'/'carbon.years': no trace {', '.join(absent[:4])}"
                f"{' …' if len(absent) > 4 else ''} in resources/carbon/ nor in "
                f"{os.environ.get('GREENBENCH_DATA', '$GREENBENCH_DATA (not set)')}/carbon/electricitymaps_eco4cast/ "
                "(or give carbon.sources)"
            )
    for i, spec in enumerate(resolve_sources(carbon.get("sources"))):
        key = f"config key 'carbon.sources[{i}]"
        if files and not spec["files"]:
            out.append(f"{key}.path': {spec['path']!r} matches no file (relative to {Path.cwd()})")
        if spec.get("format") == "wide":
            for needed in ("zone", "intensity_column"):
                if not spec.get(needed):
                    out.append(f"{key}.{needed}': a wide trace needs it (one zone per file; the column to read)")
    if files and not out:
        out += header_errors(resolve_sources(carbon.get("sources")), str(carbon.get("column", "direct")))
    answer_grid = config.get("answer", {}).get("grid")
    grids = config.get("stats", {}).get("grid_intensities", {})
    if answer_grid is not None and answer_grid not in grids:
        out.append(f"config key 'answer.grid': '{answer_grid}' is not in stats.grid_intensities ({', '.join(grids)})")
    grid = config.get("footprint", {}).get("zone")
    if grid is not None and grid not in zones:
        out.append(
            f"config key 'footprint.zone': '{grid}' is not in carbon.zones ({', '.join(sorted(zones))}): "
            "the study's footprint is priced at one of the zones whose traces it reads"
        )
    amortized = config.get("footprint", {}).get("amortization", {}).get("batch_size")
    if amortized is not None and amortized not in config.get("energy", {}).get("batch_sizes", [amortized]):
        out.append(
            f"config key 'footprint.amortization.batch_size': {amortized} is not measured "
            f"(energy.batch_sizes: {config['energy']['batch_sizes']})"
        )
    out += _date_errors(carbon)
    out += _forecast_errors(carbon)
    out += _model_source_errors(config) if files else []
    out += _energy_errors(config)
    out += _stopping_errors(config.get("energy", {}))
    out += _schedule_cell_errors(config)
    out += _compute_errors(config.get("compute") or {})
    shares = sched.get("origin_shares") or {}
    if shares and sum(float(v) for v in shares.values()) <= 0:
        out.append("config key 'carbon.schedule.origin_shares': every share is 0 (no user sends a request)")
    for name, over in (sched.get("scenarios") or {}).items():
        extra = sorted(set((over or {}).get("zones", [])) - zones)
        if extra:
            out.append(
                f"config key 'carbon.schedule.scenarios.{name}.zones': {', '.join(extra)} not in carbon.zones "
                "(a scenario serves from zones that have traces and forecasts)"
            )
        over = over or {}
        key = f"config key 'carbon.schedule.scenarios.{name}"
        serving = list(over.get("zones", carbon.get("zones", [])))
        origins = over.get("origin_shares", shares)
        latency = over.get("latency_ms", sched.get("latency_ms", {}))
        if "origin_shares" in over and sum(float(v) for v in origins.values()) <= 0:
            out.append(f"{key}.origin_shares': every share is 0 (no user sends a request)")
        absent = [f"{o}.{z}" for o in origins for z in serving if z not in (latency.get(o) or {})]
        if absent and ("origin_shares" in over or "latency_ms" in over):
            out.append(
                f"{key}.latency_ms': no round-trip time for {', '.join(absent[:6])}"
                f"{' …' if len(absent) > 6 else ''} (origin.zone; every origin to every serving zone)"
            )
    return out


def _forecast_errors(carbon: Mapping[str, Any]) -> list[str]:
    """Windows the forecasters and the deferral need: enough calibration origins for the interval
    level, enough training windows, a deferral window inside the forecast horizon."""
    import datetime as dt
    import math

    from greenbench.carbon.forecasting import conformal_origins_needed, ridge_alphas, ridge_names

    fc, sched, out = carbon.get("forecast", {}), carbon.get("schedule", {}), []
    try:
        level, horizon = float(fc["interval_level"]), int(fc["horizon_h"])
        calibration, lookback = int(fc["calibration_days"]), int(fc["lookback_h"])
        train_start, train_end = dt.date.fromisoformat(fc["train_start"]), dt.date.fromisoformat(fc["train_end"])
        test_start = dt.date.fromisoformat(fc["test_start"])
    except (KeyError, TypeError, ValueError):
        return out  # the schema names missing or malformed keys
    try:
        names = ridge_names(ridge_alphas(fc))
    except (KeyError, TypeError, ValueError):
        names = []  # the schema names a missing or malformed ridge_alpha
    if len(set(names)) < len(names):
        out.append(
            f"config key 'carbon.forecast.ridge_alpha': {fc['ridge_alpha']} gives two ridge forecasters the same "
            f"name ({', '.join(names)}): penalties must differ in their first 6 significant digits"
        )
    choice = sched.get("forecaster")
    if isinstance(choice, str) and choice != "selected":
        from greenbench.carbon.forecasting import build_models

        try:
            known = ["selected", *(model.name for model in build_models(fc))]
        except (KeyError, TypeError, ValueError):
            known = []  # the schema names what is missing
        if known and choice not in known:
            out.append(
                f"config key 'carbon.schedule.forecaster': '{choice}' is not one of this study's forecasters "
                f"(known: {', '.join(known)})"
            )
    # the rolling conformal rank ceil((n+1) level) needs n >= 1/(1 - level) earlier origins (one a day)
    need = conformal_origins_needed(level)
    window = int(fc.get("conformal_window_days") or calibration)
    if window < need:
        out.append(
            f"config key 'carbon.forecast.{'conformal_window_days' if fc.get('conformal_window_days') else 'calibration_days'}': "
            f"{window} origins cannot resolve a {level:.4g} interval (carbon.forecast.interval_level needs at "
            f"least {need})"
        )
    # at the first test origin only the calibration origins whose whole horizon is observed are known
    known = calibration - max(0, math.ceil(horizon / 24) - max(0, (test_start - train_end).days))
    if known < need <= window:
        out.append(
            f"config key 'carbon.forecast.calibration_days': {calibration} days leave {known} origins whose "
            f"{horizon} h horizon is observed by test_start; a {level:.4g} interval "
            f"(carbon.forecast.interval_level) needs at least {need}"
        )
    fit_h = ((train_end - dt.timedelta(days=calibration)) - train_start).days * 24
    stride = int(fc.get("train_stride_h", 1))
    if fit_h > 0 and fit_h // stride < 24:
        out.append(
            f"config key 'carbon.forecast.train_stride_h': {stride} h gives {fit_h // stride} training windows "
            f"per zone in the {fit_h} h fitting period (train_start to train_end minus calibration_days); "
            "at least 24 are needed"
        )
    if fit_h > 0 and fit_h < max(lookback, 168) + horizon:
        out.append(
            f"config key 'carbon.forecast.train_start': the fitting period ({fit_h} h) is shorter than one "
            f"training window (history {max(lookback, 168)} h + horizon {horizon} h)"
        )
    window_h = sched.get("deferral_window_h")
    if isinstance(window_h, int) and window_h + 1 > horizon:
        out.append(
            f"config key 'carbon.schedule.deferral_window_h': {window_h} h needs forecasts {window_h + 1} h "
            f"ahead; carbon.forecast.horizon_h is {horizon}"
        )
    return out


def _model_source_errors(config: Mapping[str, Any]) -> list[str]:
    """A local checkpoint must exist; a hub model must be cached when the hub is offline."""
    import os

    out = []
    for name, spec in (config.get("models") or {}).items():
        if name not in (config.get("study", {}).get("models") or []) or not isinstance(spec, Mapping):
            continue
        source = str(spec.get("source", ""))
        key = f"config key 'models.{name}.source'"
        if source.startswith("path:"):
            where = Path(source[5:]).expanduser()
            if not (where / "config.json").is_file():
                out.append(
                    f"{key}: {where} {'has no config.json (not a saved checkpoint)' if where.is_dir() else 'does not exist'}"
                    f" (relative paths are from {Path.cwd()})"
                )
        elif source.startswith("hub:") and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
            try:
                from huggingface_hub import try_to_load_from_cache

                cached = try_to_load_from_cache(source[4:], "config.json")
            except Exception:  # an invalid repo id
                cached = None
            if not isinstance(cached, str):
                out.append(
                    f"{key}: '{source[4:]}' is not in the Hugging Face cache and HF_HUB_OFFLINE is set "
                    "(download it where the hub is reachable, or use path:<checkpoint folder>)"
                )
    return out


def _energy_errors(config: Mapping[str, Any]) -> list[str]:
    """The energy trials' inputs and the lifecycle cell they must measure."""
    energy, out = config.get("energy", {}), []
    sizes = [b for b in energy.get("batch_sizes", []) if isinstance(b, int)]
    max_inputs = energy.get("max_inputs")
    if isinstance(max_inputs, int) and 0 < max_inputs < max(sizes, default=0):
        out.append(
            f"config key 'energy.max_inputs': {max_inputs} inputs cannot fill a batch of {max(sizes)} "
            "(energy.batch_sizes); 0 = all of dev"
        )
    amortized = config.get("footprint", {}).get("amortization", {}).get("batch_size")
    if amortized is None:
        return out
    devices = resolve_devices(config.get("study", {}).get("devices") or [])
    paddings = energy.get("paddings", [])
    missing = []
    for device in devices:
        pads = paddings.get(device, []) if isinstance(paddings, Mapping) else paddings
        if "dynamic" not in pads:
            missing.append(f"dynamic padding on {device} (energy.paddings)")
    if "eager" not in energy.get("modes", []):
        missing.append("eager mode (energy.modes)")
    if "fp32" not in (config.get("study", {}).get("variants") or []):
        missing.append("the fp32 baseline it is compared with (study.variants)")
    if missing:
        out.append(
            "config key 'footprint.amortization': its cell (batch_size "
            f"{amortized}, dynamic padding, eager, against fp32) is not measured: no {', no '.join(missing)}"
        )
    return out


def _stopping_errors(energy: Mapping[str, Any]) -> list[str]:
    stop, trials = energy.get("stopping") or {}, energy.get("trials")
    if not stop or not any((stop.get("target") or {}).values()) or not isinstance(trials, int):
        return []
    out = []
    if trials < 2:
        out.append(
            f"config key 'energy.trials': sequential stopping needs a first stage of at least 2 trials (has "
            f"{trials}); set energy.stopping.target to 0 for a fixed number of trials"
        )
    if int(stop.get("max_trials", 0)) < trials:
        out.append(
            f"config key 'energy.stopping.max_trials': {stop.get('max_trials')} is below energy.trials ({trials}), "
            "the first stage every cell runs"
        )
    return out


def _date_errors(carbon: Mapping[str, Any]) -> list[str]:
    """Date order and every window inside the years that have traces (checked before any job)."""
    import datetime as dt

    out: list[str] = []
    fc, sched, years = carbon.get("forecast", {}), carbon.get("schedule", {}), carbon.get("years") or []
    try:
        d = {
            f"carbon.forecast.{k}": dt.date.fromisoformat(fc[k])
            for k in ("train_start", "train_end", "test_start", "test_end")
        }
        d |= {f"carbon.schedule.{k}": dt.date.fromisoformat(sched[k]) for k in ("start", "static_from")}
    except (KeyError, TypeError, ValueError):
        return out  # the schema has named the missing or malformed date already
    for a, b in (("train_start", "train_end"), ("train_end", "test_start"), ("test_start", "test_end")):
        ka, kb = f"carbon.forecast.{a}", f"carbon.forecast.{b}"
        if not (d[ka] < d[kb] or (a, b) == ("train_end", "test_start") and d[ka] <= d[kb]):
            out.append(f"config key '{kb}': {d[kb]} must come after {ka} ({d[ka]})")
    calib = d["carbon.forecast.train_end"] - dt.timedelta(days=int(fc.get("calibration_days", 0)))
    if calib <= d["carbon.forecast.train_start"]:
        out.append(
            f"config key 'carbon.forecast.calibration_days': {fc.get('calibration_days')} days before train_end "
            f"({d['carbon.forecast.train_end']}) leave nothing to fit on after train_start"
        )
    if d["carbon.schedule.static_from"] >= d["carbon.schedule.start"]:
        out.append(
            f"config key 'carbon.schedule.static_from': {d['carbon.schedule.static_from']} must come before "
            f"carbon.schedule.start ({d['carbon.schedule.start']})"
        )
    if not years:
        return out
    first, end = dt.datetime(min(years), 1, 1), dt.datetime(max(years) + 1, 1, 1)  # traces cover [first, end)
    horizon = dt.timedelta(hours=int(fc.get("horizon_h", 0)))
    lookback_h = max(int(fc.get("lookback_h", 0)), 168)
    lookback = dt.timedelta(hours=lookback_h)
    span = f"the traces of carbon.years ({min(years)}–{max(years)}) cover {first.date()} to {end.date()}"
    as_dt = {k: dt.datetime.combine(v, dt.time()) for k, v in d.items()}
    for key, value in as_dt.items():
        if not first <= value <= end:
            out.append(f"config key '{key}': {value.date()} is outside the traces: {span}")
    if as_dt["carbon.forecast.test_end"] + horizon - dt.timedelta(days=1) > end:
        latest = (end - horizon + dt.timedelta(days=1)).date()  # the last test_end whose origins' horizons fit
        out.append(
            f"config key 'carbon.forecast.test_end': {as_dt['carbon.forecast.test_end'].date()} is too late: the last "
            f"origin's {int(fc.get('horizon_h', 0))} h forecast horizon runs past the traces ({span}); "
            f"give test_end {latest} or earlier"
        )
    sched_start = as_dt["carbon.schedule.start"]
    sched_end = sched_start + dt.timedelta(days=int(sched.get("days", 0)))
    if sched_start - lookback < first:
        out.append(
            f"config key 'carbon.schedule.start': {sched_start.date()} leaves less than the forecasters' "
            f"{lookback_h} h of history: {span}"
        )
    if sched_end + horizon > end:
        out.append(
            f"config key 'carbon.schedule.days': the window {sched_start.date()}..{sched_end.date()} plus the "
            f"{horizon} forecast horizon runs past the traces: {span}"
        )
    return out


def _schedule_cell_errors(config: Mapping[str, Any]) -> list[str]:
    """The schedule's served cell must be one the energy trials measure."""
    from greenbench.cells import variants

    cell = config.get("carbon", {}).get("schedule", {}).get("energy") or {}
    study, energy = config.get("study", {}), config.get("energy", {})
    key = "config key 'carbon.schedule.energy"
    out = []
    if not isinstance(cell, Mapping):  # `answer` (the schema allows no other string): the answer's own cells
        return out
    if not cell or "j_per_request" in cell:  # given directly: nothing measured to check against
        if cell and float(cell.get("latency_p95_ms", 0)) < float(cell.get("latency_p50_ms", 0)):
            out.append(f"{key}.latency_p95_ms': below latency_p50_ms")
        return out
    devices = resolve_devices(study.get("devices") or [])
    cells = study_cells(study)
    paddings = energy.get("paddings", [])
    if isinstance(paddings, Mapping):
        paddings = paddings.get(str(cell.get("device")), [])
    checks = (
        ("variant", cells, "study.variants and study.runtimes"),
        ("batch_size", energy.get("batch_sizes", []), "energy.batch_sizes"),
        ("padding", paddings, "energy.paddings"),
        ("mode", energy.get("modes", []), "energy.modes"),
        ("device", devices, "study.devices"),
    )
    for field, allowed, where in checks:
        if cell.get(field) not in allowed:
            out.append(f"{key}.{field}': {cell.get(field)!r} is not measured ({where}: {allowed})")
    try:
        recipe = variants.get(str(cell.get("variant"))) if cell.get("variant") in cells else None
    except KeyError:
        recipe = None
    if recipe is not None and cell.get("device") not in recipe.devices:
        out.append(
            f"{key}.device': variant '{recipe.name}' does not run on {cell.get('device')} "
            f"(it applies to {', '.join(recipe.devices)})"
        )
    if cell.get("mode") == "cuda_graph" and (cell.get("device") != "cuda" or cell.get("padding") != "fixed"):
        out.append(f"{key}.mode': cuda_graph cells exist only on cuda with fixed padding")
    return out


def _compute_errors(compute: Mapping[str, Any]) -> list[str]:
    """Jobs that share the machine may not ask for more threads than the jobs that run alone."""
    threads, shared = compute.get("threads"), compute.get("shared_threads")
    if isinstance(threads, int) and isinstance(shared, int) and shared > threads:
        return [
            f"config key 'compute.shared_threads': {shared} is more than compute.threads ({threads}); the jobs "
            "that may run side by side cannot ask for more threads than those that run alone"
        ]
    return []
