rule retrieve_sst2:
    output:
        paths.SST2_TSV,
    log:
        f"{LOGS}/retrieve_sst2/{{split}}.log",
    # the input files are validated first: a bad file stops the run before hours of jobs
    priority: 100
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=wiring.retrieve_sst2(config),
    script:
        "../../scripts/retrieve_sst2.py"


rule prepare_dataset:
    input:
        tsv=paths.SST2_TSV,
        lib=lib("prepare_dataset"),
    output:
        paths.DATASET,
    log:
        f"{LOGS}/prepare_dataset/{{split}}.log",
    benchmark:
        f"{BENCHMARKS}/prepare_dataset/{{split}}.tsv"
    # the input files are validated first: a bad file stops the run before hours of jobs
    priority: 100
    conda:
        CONDA_ENV
    resources:
        **placement(),
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/prepare_dataset.py"


rule tokenize:
    input:
        dataset=paths.DATASET,
        lib=lib("tokenize"),
    output:
        paths.TOKENS,
        footprint=paths.footprint_of(paths.TOKENS),
    log:
        f"{LOGS}/tokenize/{{model}}/{{split}}.log",
    benchmark:
        f"{BENCHMARKS}/tokenize/{{model}}/{{split}}.tsv"
    conda:
        CONDA_ENV
    resources:
        **placement(),
        mem_mb=4000,
        runtime=20,
    params:
        settings=lambda w: wiring.tokenize(config, w.model),
    script:
        "../../scripts/tokenize.py"
