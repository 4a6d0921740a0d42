rule retrieve_carbon:
    output:
        paths.CARBON_TRACE_CSV,
    log:
        f"{LOGS}/retrieve_carbon/{{zone}}_{{year}}.log",
    # the input files are validated first: a bad file stops the run before hours of jobs
    priority: 100
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.retrieve_carbon(config),
    script:
        "../../scripts/retrieve_carbon.py"


rule prepare_traces:
    input:
        csv=trace_files(),
        lib=lib("prepare_traces"),
    output:
        paths.CARBON_TRACES,
    log:
        f"{LOGS}/prepare_traces.log",
    benchmark:
        f"{BENCHMARKS}/prepare_traces.tsv"
    # the input files are validated first: a bad file stops the run before hours of jobs
    priority: 100
    conda:
        CONDA_ENV
    resources:
        **placement(),
        mem_mb=2000,
        runtime=10,
    params:
        settings=wiring.prepare_traces(config),
    script:
        "../../scripts/prepare_traces.py"


rule forecast_carbon:
    input:
        traces=paths.CARBON_TRACES,
        lib=lib("forecast_carbon"),
    output:
        metrics=paths.FORECAST_METRICS,
        forecasts=paths.FORECASTS,
        model=directory(paths.FORECASTER_DIR),
        footprint=paths.footprint_of(paths.FORECAST_METRICS),
    log:
        f"{LOGS}/forecast_carbon.log",
    benchmark:
        f"{BENCHMARKS}/forecast_carbon.tsv"
    priority: wiring.priority(config, "forecast_carbon")
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "forecast_carbon")
    resources:
        **placement(),
        mem_mb=6000,
        runtime=60,
    params:
        settings=wiring.forecast_carbon(config),
    script:
        "../../scripts/forecast_carbon.py"


rule forecast_hourly:
    input:
        traces=paths.CARBON_TRACES,
        model=paths.FORECASTER_DIR,
        lib=lib("forecast_hourly"),
    output:
        paths.FORECASTS_HOURLY,
        footprint=paths.footprint_of(paths.FORECASTS_HOURLY),
    log:
        f"{LOGS}/forecast_hourly.log",
    benchmark:
        f"{BENCHMARKS}/forecast_hourly.tsv"
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "forecast_hourly")
    resources:
        **placement(),
        mem_mb=4000,
        runtime=20,
    params:
        settings=wiring.forecast_hourly(config),
    script:
        "../../scripts/forecast_hourly.py"


# the answer's cell per device and model, chosen as rule `answer` chooses it but from the energy and
# accuracy tables alone (greenbench.report.answer.served_cell): the routing serving it reads no carbon table
rule served_cell:
    input:
        energy=f"{paths.STATS_DIR}/energy.parquet",
        accuracy=f"{paths.STATS_DIR}/accuracy.parquet",
        lib=lib("served_cell"),
    output:
        paths.SERVED,
    log:
        f"{LOGS}/served_cell.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.served_cell(config),
    script:
        "../../scripts/served_cell.py"


rule simulate_schedule:
    input:
        traces=paths.CARBON_TRACES,
        forecasts=paths.FORECASTS_HOURLY,
        energy=served_energy(),
        answer=served_answer(),
        lib=lib("simulate_schedule"),
    output:
        paths.SCHEDULE,
        footprint=paths.footprint_of(paths.SCHEDULE),
    log:
        f"{LOGS}/simulate_schedule/{{scenario}}.log",
    benchmark:
        f"{BENCHMARKS}/simulate_schedule/{{scenario}}.tsv"
    conda:
        CONDA_ENV
    resources:
        **placement(),
        mem_mb=4000,
        runtime=20,
    params:
        settings=lambda w: wiring.simulate_schedule(config, w.scenario),
    script:
        "../../scripts/simulate_schedule.py"


rule carbon:
    # the carbon stage alone (traces, forecasts, routing): with carbon.schedule.energy given
    # directly (J per request, latencies) it plans no fine-tune, build or energy trial; serving the
    # answer (the default) it plans the study the answer comes from
    input:
        paths.FORECAST_METRICS,
        schedule_results(),
        # every carbon job's outputs: a resume rebuilds one whose job was killed
        [f for f in every_output(CARBON_RULES) if f != paths.FORECAST_METRICS],
    localrule: True
