rule aggregate:
    input:
        measurements=paths.ENERGY_ALL,
        predictions=eval_files(),
        lib=lib("aggregate"),
    output:
        expand(f"{paths.STATS_DIR}/{{table}}.parquet", table=paths.STATS_TABLES),
        footprint=paths.footprint_of(paths.AGGREGATE_JOB),
    log:
        f"{LOGS}/aggregate.log",
    benchmark:
        f"{BENCHMARKS}/aggregate.tsv"
    conda:
        CONDA_ENV
    resources:
        **placement(),
        mem_mb=4000,
        runtime=30,
    params:
        stats=wiring.aggregate(config),
        seed=config["seed"],
    script:
        "../../scripts/aggregate.py"


rule pareto:
    input:
        accuracy=f"{paths.STATS_DIR}/accuracy.parquet",
        energy=f"{paths.STATS_DIR}/energy.parquet",
        lib=lib("pareto"),
    output:
        points=paths.PARETO_POINTS,
        hypervolume=paths.PARETO_HYPERVOLUME,
    log:
        f"{LOGS}/pareto.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/pareto.py"


rule figures:
    input:
        accuracy=f"{paths.STATS_DIR}/accuracy.parquet",
        energy=f"{paths.STATS_DIR}/energy.parquet",
        points=paths.PARETO_POINTS,
        predictions=eval_files(),
        forecasts=paths.FORECASTS,
        forecast_metrics=paths.FORECAST_METRICS,
        schedule=schedule_results(),
        eval_summary=paths.EVAL_SUMMARY,
        energy_by_length=f"{paths.STATS_DIR}/energy_by_length.parquet",
        amortization_curves=paths.AMORTIZATION_CURVES,
        lib=lib("figures"),
    output:
        report(
            expand(
                f"{paths.FIGURES_DIR}/{{name}}.png",
                name=paths.FIGURES,
            ),
            caption="../report/figures.rst",
            category="Figures",
        ),
        expand(f"{paths.FIGURES_DIR}/{{name}}.pdf", name=paths.FIGURES),
    log:
        f"{LOGS}/figures.log",
    benchmark:
        f"{BENCHMARKS}/figures.tsv"
    conda:
        CONDA_ENV
    resources:
        **placement(),
        mem_mb=4000,
        runtime=20,
    script:
        "../../scripts/figures.py"


rule paper:
    input:
        stats=expand(f"{paths.STATS_DIR}/{{table}}.parquet", table=paths.STATS_TABLES),
        measurements=paths.ENERGY_ALL,
        forecast_metrics=paths.FORECAST_METRICS,
        schedule=schedule_results(),
        footprint=paths.FOOTPRINT,
        amortization=paths.AMORTIZATION,
        lib=lib("paper"),
    output:
        tables_md=f"{paths.PAPER_DIR}/tables.md",
        tables_tex=f"{paths.PAPER_DIR}/tables.tex",
        footprint=report(
            f"{paths.PAPER_DIR}/footprint.md",
            caption="../report/footprint.rst",
            category="What the study cost",
        ),
        answer=report(
            f"{paths.PAPER_DIR}/answer.md",
            caption="../report/answer.rst",
            category="Answer",
        ),
        claims=report(
            f"{paths.PAPER_DIR}/claims.md",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        f"{LOGS}/paper.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        stats=wiring.aggregate(config),
        seed=config["seed"],
        horizon=max(config["footprint"]["amortization"]["inferences"]),
        answer=config["answer"],
    script:
        "../../scripts/paper.py"


rule footprint:
    input:
        rows=footprint_rows(),
        traces=paths.CARBON_TRACES,
        lib=lib("footprint"),
    output:
        paths.FOOTPRINT,
    log:
        f"{LOGS}/footprint.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.footprint(config),
    script:
        "../../scripts/footprint.py"


rule amortize:
    input:
        footprint=paths.FOOTPRINT,
        energy=f"{paths.STATS_DIR}/energy.parquet",
        ratios=f"{paths.STATS_DIR}/ratios.parquet",
        lib=lib("amortize"),
    output:
        break_even=paths.AMORTIZATION,
        curves=paths.AMORTIZATION_CURVES,
    log:
        f"{LOGS}/amortize.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.amortize(config),
    script:
        "../../scripts/amortize.py"
