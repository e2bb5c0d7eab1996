# Explanation methods: one job per (dataset, method) computes every layer and image in batches.


rule explain:
    input:
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        modules=method_modules,
    output:
        maps=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        figure=report(f"{RESULTS}/{{dataset}}/explanations/{{method}}.png", caption="../captions/explanations.rst",
                      category="Explanations", subcategory="{dataset}"),
    params:
        method_params=lambda wc: config["methods"][wc.method],
        n_eval=lambda wc: dataset_cfg(wc)["explain"]["n_eval"],
        n_confusions=lambda wc: dataset_cfg(wc)["explain"]["n_confusions"],
        batch_size=config["explain"]["batch_size"],
        seed=config["seed"],
        device=config["device"],
    log:
        log_path("explain_{method}"),
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/explain.py"


# Integrated gradients' completeness gaps, summarised per subset (only when the method is in the study).
COMPLETENESS = {"completeness": report(f"{RESULTS}/{{dataset}}/explanations/integrated_gradients_completeness.csv",
                                       caption="../captions/tables/completeness.rst", category="Explanations",
                                       subcategory="{dataset}",
                                       labels={"dataset": "{dataset}", "table": "integrated gradients completeness"})}
if "integrated_gradients" not in METHODS:
    COMPLETENESS = {}


# Across the methods of one dataset: last conv layer of every method (seed 000 Fig 28), one image
# explained for every class (seed 002), correct vs misclassified for the top confusions (seed 004 Fig 19).
rule explain_summary:
    input:
        maps=expand(f"{RESULTS}/{{{{dataset}}}}/explanations/{{method}}.npz", method=METHODS),
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        modules=package(*CORE, "plots.py", "preprocess.py", "stages/explain_summary.py"),
    output:
        comparison=report(f"{RESULTS}/{{dataset}}/explanations/comparison.png",
                          caption="../captions/explanations.rst", category="Explanations", subcategory="{dataset}"),
        per_class=report(f"{RESULTS}/{{dataset}}/explanations/per_class.png",
                         caption="../captions/explanations.rst", category="Explanations", subcategory="{dataset}"),
        confusions=report(f"{RESULTS}/{{dataset}}/explanations/confusions.png",
                          caption="../captions/explanations.rst", category="Explanations", subcategory="{dataset}"),
        **COMPLETENESS,
    params:
        methods=METHODS,
        ig_params=config["methods"].get("integrated_gradients", {}),
    log:
        log_path("explain_summary"),
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/explain_summary.py"

