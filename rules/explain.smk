# Explanation methods: one job per (dataset, method) computes every layer and image in batches.


rule explain:
    input:
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        modules=method_modules,
    output:
        maps=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        figure=report(f"{RESULTS}/{{dataset}}/explanations/{{method}}.png", caption="../captions/explanations.rst",
                      category="Explanations", subcategory="{dataset}"),
    params:
        method_params=lambda wc: config["methods"][wc.method],
        n_eval=lambda wc: dataset_cfg(wc)["explain"]["n_eval"],
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
