rule finetune:
    input:
        train=paths.TOKENS.format(model="{model}", split="train"),
        lib=lib("finetune"),
    output:
        directory(paths.BASELINE),
        footprint=paths.footprint_of(paths.BASELINE),
    log:
        f"{LOGS}/finetune/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune/{{model}}.tsv"
    priority: wiring.priority(config, "finetune")
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "finetune")
    resources:
        **placement(),
        mem_mb=8000,
        runtime=240,
    params:
        settings=lambda w: wiring.finetune(config, w.model),
    script:
        "../../scripts/finetune.py"


rule teacher_logits:
    input:
        model=paths.BASELINE,
        train=paths.TOKENS.format(model="{model}", split="train"),
        lib=lib("teacher_logits"),
    output:
        paths.TEACHER,
        footprint=paths.footprint_of(paths.TEACHER),
    log:
        f"{LOGS}/teacher_logits/{{model}}/{{examples}}.log",
    benchmark:
        f"{BENCHMARKS}/teacher_logits/{{model}}/{{examples}}.tsv"
    priority: wiring.priority(config, "teacher_logits")
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "teacher_logits")
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=lambda w: wiring.teacher_logits(config, w.examples),
    script:
        "../../scripts/teacher_logits.py"


rule build_variant:
    input:
        model=paths.BASELINE,
        train=paths.TOKENS.format(model="{model}", split="train"),
        recipe=recipe_artifact,
        teacher=teacher_input,
        lib=cell_lib("build_variant"),
    output:
        directory(paths.VARIANT_ARTIFACT),
        footprint=paths.footprint_of(paths.VARIANT_ARTIFACT),
    log:
        f"{LOGS}/build_variant/{{device}}/{{model}}/{{variant}}.log",
    benchmark:
        f"{BENCHMARKS}/build_variant/{{device}}/{{model}}/{{variant}}.tsv"
    priority: lambda w: wiring.priority(config, "build_variant", w.variant)
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "build_variant")
    resources:
        **placement(device_bound=True),
        mem_mb=8000,
        runtime=120,
    params:
        settings=lambda w: wiring.build_variant(config, w.variant),
    script:
        "../../scripts/build_variant.py"
