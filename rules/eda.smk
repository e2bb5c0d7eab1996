# Exploratory analysis (seed 000 §2.1) and the normalisation statistics used downstream.


rule eda:
    input:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        modules=package(*CORE, *DATA_READ, "eda.py", "plots.py", "stages/eda.py"),
    output:
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        sample_batch=report(f"{RESULTS}/{{dataset}}/eda/sample_batch.png", caption="../captions/eda.rst",
                            category="EDA", subcategory="{dataset}"),
        class_distribution=report(f"{RESULTS}/{{dataset}}/eda/class_distribution.png",
                                  caption="../captions/eda.rst", category="EDA", subcategory="{dataset}"),
        one_per_class=report(f"{RESULTS}/{{dataset}}/eda/one_per_class.png", caption="../captions/eda.rst",
                             category="EDA", subcategory="{dataset}"),
    log:
        log_path("eda"),
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/eda.py"
