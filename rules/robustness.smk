# Robustness sweeps (seed 001 §3.5): predictions and Grad-CAM maps under noise, brightness and contrast.

ROBUSTNESS_DEGRADATIONS = list(config["robustness"]["levels"])
ROBUSTNESS_OUTPUTS = expand(f"{RESULTS}/{{dataset}}/robustness/stability.csv", dataset=LAYERED)  # for rule report


rule robustness:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
    output:
        figures=[
            reported(
                f"{RESULTS}/{{dataset}}/robustness/gradcam_{kind}.png", "robustness", f"gradcam_{kind}", "Robustness"
            )
            for kind in ROBUSTNESS_DEGRADATIONS
        ],
        table=reported(
            f"{RESULTS}/{{dataset}}/robustness/stability.csv",
            "robustness",
            "stability",
            "Robustness",
            table="stability",
        ),
    log:
        log_path("robustness"),
    benchmark:
        benchmark_path("robustness")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        levels=config["robustness"]["levels"],  # one figure per degradation, in this order
        n_eval=config["robustness"]["n_eval"],
        batch_size=config["robustness"]["batch_size"],
        seed=config["seed"],
        device=config["device"],
        code=code("robustness"),
    script:
        "../scripts/robustness.py"
