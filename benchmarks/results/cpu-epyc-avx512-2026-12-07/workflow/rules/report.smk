rule aggregate:
    input:
        measurements=paths.ENERGY_ALL,
        predictions=eval_files(),
        lib=lib("aggregate"),
    output:
        # every statistics table but the carbon one (rule carbon_table)
        expand(f"{paths.STATS_DIR}/{{table}}.parquet", table=paths.AGGREGATE_TABLES),
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
        settings=wiring.aggregate(config),
    script:
        "../../scripts/aggregate.py"


# gCO2e per 1,000 inferences per cell and grid: the only statistic that reads stats.grid_intensities, so a
# grid edit reruns it and its readers (answer, paper), not the other tables or the routing (served_cell)
rule carbon_table:
    input:
        measurements=paths.ENERGY_ALL,
        lib=lib("carbon_table"),
    output:
        paths.CARBON_TABLE,
    log:
        f"{LOGS}/carbon_table.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.carbon_table(config),
    script:
        "../../scripts/carbon_table.py"


rule pareto:
    input:
        accuracy=f"{paths.STATS_DIR}/accuracy.parquet",
        energy=f"{paths.STATS_DIR}/energy.parquet",
        ratios=f"{paths.STATS_DIR}/ratios.parquet",
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


# the study's answer at the configured traffic and at each traffic level (greenbench.report.answer)
rule answer:
    input:
        accuracy=f"{paths.STATS_DIR}/accuracy.parquet",
        energy=f"{paths.STATS_DIR}/energy.parquet",
        carbon=paths.CARBON_TABLE,
        measurements=paths.ENERGY_ALL,
        lib=lib("answer"),
    output:
        answer=paths.ANSWER,
        traffic=paths.ANSWER_TRAFFIC,
        runtimes=paths.ANSWER_RUNTIMES,
        composed=paths.ANSWER_COMPOSED,
    log:
        f"{LOGS}/answer.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.answer(config),
    script:
        "../../scripts/answer.py"


# the report's categories and each figure's place come from the figure registry (greenbench.report.figures)
from greenbench.report.figures.figure import ANSWER, COST, CLAIMS, TABLES
from greenbench.report.figures.figure import ordered as figures_in_order


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
        ratios=f"{paths.STATS_DIR}/ratios.parquet",
        amortization=paths.AMORTIZATION,
        lib=lib("figures"),
    output:
        # one report entry per figure; its caption is generated beside it by this job (key numbers
        # from the tables) and read when `snakemake --report` runs
        *[
            report(
                f"{paths.FIGURES_DIR}/{name}.png",
                caption=f"../../{paths.FIGURES_DIR}/{name}.rst",
                category=figure.place[0],
                subcategory=figure.place[1],
            )
            for figure in figures_in_order()
            for name in [figure.name]
        ],
        expand(
            f"{paths.FIGURES_DIR}/{{name}}.pdf",
            name=figure_names(),
        ),
        captions=expand(
            f"{paths.FIGURES_DIR}/{{name}}.rst",
            name=figure_names(),
        ),
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
    params:
        settings=wiring.figures(config),
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
        answer=paths.ANSWER,
        answer_traffic=paths.ANSWER_TRAFFIC,
        answer_runtimes=paths.ANSWER_RUNTIMES,
        answer_composed=paths.ANSWER_COMPOSED,
        lib=lib("paper"),
    output:
        tables_md=f"{paths.PAPER_DIR}/tables.md",
        tables_tex=f"{paths.PAPER_DIR}/tables.tex",
        footprint=f"{paths.PAPER_DIR}/footprint.md",
        answer=f"{paths.PAPER_DIR}/answer.md",
        claims=f"{paths.PAPER_DIR}/claims.md",
        # the same pages as HTML, shown inline by the report (greenbench.report.html)
        answer_html=report(
            f"{paths.PAPER_DIR}/answer.html",
            caption="../report/answer.rst",
            category=ANSWER,
        ),
        footprint_html=report(
            f"{paths.PAPER_DIR}/footprint.html",
            caption="../report/footprint.rst",
            category=COST,
        ),
        claims_html=report(
            f"{paths.PAPER_DIR}/claims.html",
            caption="../report/claims.rst",
            category=CLAIMS,
        ),
        tables_html=report(
            f"{paths.PAPER_DIR}/tables.html",
            caption="../report/tables.rst",
            category=TABLES,
        ),
        overview=f"{paths.PAPER_DIR}/overview.html",
    log:
        f"{LOGS}/paper.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.paper(config),
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
