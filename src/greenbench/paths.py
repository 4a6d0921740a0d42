"""Output layout, shared by the Snakefile and the CLI (one wildcard per path segment)."""

SST2_TSV = "resources/sst2/{split}.tsv"
DATASET = "results/data/sst2/{split}.parquet"
TOKENS = "results/tokens/{model}/{split}.parquet"
BASELINE = "results/models/{model}/baseline"
VARIANT_ARTIFACT = "results/variants/{device}/{model}/{variant}"
EVAL = "results/eval/{device}/{model}/{variant}.parquet"
EVAL_SUMMARY = "results/eval/summary.parquet"
