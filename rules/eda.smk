# Exploratory analysis (seed 000 §2.1) and the normalisation statistics used downstream.
rule eda:
    input:
        [p for s in SPLITS for p in split_arrays(s)],  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
    output:
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        sample_batch=reported(f"{RESULTS}/{{dataset}}/eda/sample_batch.png", "eda", "sample_batch", "EDA"),
        class_distribution=reported(
            f"{RESULTS}/{{dataset}}/eda/class_distribution.png", "eda", "class_distribution", "EDA"
        ),
        one_per_class=reported(f"{RESULTS}/{{dataset}}/eda/one_per_class.png", "eda", "one_per_class", "EDA"),
    log:
        log_path("eda"),
    benchmark:
        benchmark_path("eda")
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        code=code("eda"),
    script:
        "../scripts/eda.py"
