"""Output layout, shared by the Snakefile and the CLI (one wildcard per path segment)."""

SST2_TSV = "resources/sst2/{split}.tsv"
DATASET = "results/data/sst2/{split}.parquet"
TOKENS = "results/tokens/{model}/{split}.parquet"
BASELINE = "results/models/{model}/baseline"
# the baseline's logits on one recovery draw of {examples} train sentences (0: all), shared by the rewrites
TEACHER = "results/models/{model}/teacher/{examples}.parquet"
VARIANT_ARTIFACT = "results/variants/{device}/{model}/{variant}"
EVAL = "results/eval/{device}/{model}/{variant}.parquet"
EVAL_SUMMARY = "results/eval/summary.parquet"
ENERGY_TRIAL = "results/energy/{device}/{model}/trial-{trial}.parquet"
ENERGY_PLAN = "results/energy/{device}/{model}/plan.parquet"  # sequential stopping: the later trials' cells
ENERGY_ALL = "results/energy/measurements.parquet"
STATS_DIR = "results/stats"
STATS_TABLES = ("energy", "accuracy", "ratios", "carbon", "overhead", "energy_by_length", "stopping")
# the tables rule `aggregate` writes: all but the carbon table (rule `carbon_table`: only it reads the grids)
AGGREGATE_TABLES = tuple(t for t in STATS_TABLES if t != "carbon")
CARBON_TABLE = f"{STATS_DIR}/carbon.parquet"
PARETO_POINTS = "results/pareto/points.parquet"
PARETO_HYPERVOLUME = "results/pareto/hypervolume.parquet"
FIGURES_DIR = "results/figures"
PAPER_DIR = "results/paper"
CARBON_TRACE_CSV = "resources/carbon/{zone}_{year}_hourly.csv"
CARBON_TRACES = "results/carbon/traces.parquet"
FORECAST_METRICS = "results/carbon/forecast_metrics.parquet"
FORECASTS = "results/carbon/forecasts.parquet"
FORECASTS_HOURLY = "results/carbon/forecasts_hourly.parquet"
FORECASTER_DIR = "results/carbon/forecaster"
SCHEDULE = "results/carbon/schedule/{scenario}.parquet"
# the answer's cell per device and model as the routing serves it (rule `served_cell`: no carbon table read)
SERVED = "results/carbon/served.parquet"
FOOTPRINT_DIR = "results/footprint"  # one row per compute job (greenbench.analysis.study_cost)
FOOTPRINT = "results/stats/footprint.parquet"
ANSWER = f"{STATS_DIR}/answer.parquet"
AGGREGATE_JOB = "results/stats/aggregate"  # names the aggregate job's footprint row (it writes several tables)


def footprint_of(output: str) -> str:
    """Where the job that writes ``output`` (a path or a wildcard pattern) leaves its footprint row."""
    relative = output.removeprefix("results/").removesuffix(".parquet")
    return f"{FOOTPRINT_DIR}/{relative}.parquet"


AMORTIZATION = "results/stats/amortization.parquet"  # break-even against fp32 eager, per variant
AMORTIZATION_CURVES = "results/stats/amortization_curves.parquet"  # J per inference against deployment volume
# the study's answer (greenbench.report.answer): one row per device and model at the configured traffic, and
# one per device, model and answer.traffic_levels entry
ANSWER = "results/stats/answer.parquet"
ANSWER_TRAFFIC = "results/stats/answer_traffic.parquet"
# every runtime's greenest qualifying cell, and the best composed recipe against the best single one
ANSWER_RUNTIMES = "results/stats/answer_runtimes.parquet"
ANSWER_COMPOSED = "results/stats/answer_composed.parquet"
