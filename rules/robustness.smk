# Robustness sweeps (seed 001 §3.5): predictions and Grad-CAM maps under noise, brightness and contrast.

ROBUSTNESS_DEGRADATIONS = list(config["robustness"]["levels"])
ROBUSTNESS_OUTPUTS = expand(f"{RESULTS}/{{dataset}}/robustness/stability.csv", dataset=DATASETS)  # for rule report


rule robustness:
    input:
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        modules=package(*CORE, *DATA_READ, *MODEL, "plots.py", "explain/__init__.py", "explain/base.py",
                        "explain/gradcam.py", "robustness.py", "stages/explain.py", "stages/robustness.py"),
    output:
        figures=[report(f"{RESULTS}/{{dataset}}/robustness/gradcam_{kind}.png", caption="../captions/robustness.rst",
                        category="Robustness", subcategory="{dataset}") for kind in ROBUSTNESS_DEGRADATIONS],
        table=report(f"{RESULTS}/{{dataset}}/robustness/stability.csv", caption="../captions/tables/robustness_stability.rst",
                     category="Robustness", subcategory="{dataset}", labels={"dataset": "{dataset}", "table": "stability"}),
    params:
        study=config["robustness"],
        seed=config["seed"],
        device=config["device"],
    log:
        log_path("robustness"),
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/robustness.py"
