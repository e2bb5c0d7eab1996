# Explanation methods: one job per (dataset, method) computes every layer and image in batches.
rule explain:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
    output:
        maps=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        figure=reported(
            f"{RESULTS}/{{dataset}}/explanations/{{method}}.png", "explanations", "{method}", "Explanations"
        ),
    log:
        log_path("explain_{method}"),
    benchmark:
        benchmark_path("explain_{method}")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        method_params=method_params,
        n_eval=lambda wc: dataset_cfg(wc)["explain"]["n_eval"],
        n_confusions=lambda wc: dataset_cfg(wc)["explain"]["n_confusions"],
        batch_size=config["explain"]["batch_size"],
        seed=config["seed"],
        device=config["device"],
        code=method_code,
    script:
        "../scripts/explain.py"


# Extra outputs a method declares (registry trait extra_outputs, e.g. integrated gradients' completeness
# table): explanations/{method}_{key}.csv, written by explain_summary under the output key.
EXTRA_OUTPUTS = {
    key: f"{RESULTS}/{{dataset}}/explanations/{m}_{key}.csv" for m in METHODS for key in TRAITS[m].extra_outputs
}
EXTRA_OWNERS = {key: m for m in METHODS for key in TRAITS[m].extra_outputs}


# Across the methods of one dataset: last conv layer of every method (seed 000 Fig 28), one image
# explained for every class (seed 002), correct vs misclassified for the top confusions (seed 004 Fig 19).
rule explain_summary:
    input:
        maps=expand(f"{RESULTS}/{{{{dataset}}}}/explanations/{{method}}.npz", method=METHODS),
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
    output:
        **{
            key: reported(
                path, "explanations", f"{EXTRA_OWNERS[key]}_{key}", "Explanations", table=f"{EXTRA_OWNERS[key]} {key}"
            )
            for key, path in EXTRA_OUTPUTS.items()
        },
        comparison=reported(
            f"{RESULTS}/{{dataset}}/explanations/comparison.png", "explanations", "comparison", "Explanations"
        ),
        per_class=reported(
            f"{RESULTS}/{{dataset}}/explanations/per_class.png", "explanations", "per_class", "Explanations"
        ),
        confusions=reported(
            f"{RESULTS}/{{dataset}}/explanations/confusions.png", "explanations", "confusions", "Explanations"
        ),
    log:
        log_path("explain_summary"),
    benchmark:
        benchmark_path("explain_summary")
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        methods=METHODS,
        completeness_params=config["methods"].get(EXTRA_OWNERS.get("completeness"), {}),
        code=code("explain_summary"),
    script:
        "../scripts/explain_summary.py"
