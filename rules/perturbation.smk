# Perturbation family beyond the contract maps: the occlusion study (seed 000 §4.2) and the LIME
# top-k figures (seed 001 §2.4); each runs only when its method is in `methods`. The contract
# maps and drop/increase rates of both methods come from rules explain and faithfulness.


# What rule report needs from this file (nothing for a method left out of the study).
PERTURBATION_OUTPUTS = expand(
    f"{RESULTS}/{{dataset}}/occlusion/sweep.csv", dataset=LAYERED if "occlusion" in METHODS else []
)
PERTURBATION_OUTPUTS += expand(
    f"{RESULTS}/{{dataset}}/lime/examples.csv", dataset=DATASETS if "lime" in METHODS else []
)


rule occlusion_study:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
    output:
        correct=reported(
            f"{RESULTS}/{{dataset}}/occlusion/panels_correct.png", "occlusion", "panels_correct", "Occlusion"
        ),
        wrong=reported(f"{RESULTS}/{{dataset}}/occlusion/panels_wrong.png", "occlusion", "panels_wrong", "Occlusion"),
        sweep=reported(f"{RESULTS}/{{dataset}}/occlusion/sweep.csv", "occlusion", "sweep", "Occlusion", table="sweep"),
    log:
        log_path("occlusion_study"),
    benchmark:
        benchmark_path("occlusion_study")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        settings=lambda wc: dataset_cfg(wc)["occlusion"]["sweep"],
        n_eval=config["occlusion_study"]["n_eval"],
        position=config["occlusion_study"]["position"],
        fill=lambda wc: config["methods"]["occlusion"]["fill"],
        batch_size=lambda wc: config["methods"]["occlusion"]["batch_size"],
        seed=config["seed"],
        device=config["device"],
        code=code("occlusion_study"),
    script:
        "../scripts/occlusion_study.py"


rule lime_study:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
    output:
        correct=reported(f"{RESULTS}/{{dataset}}/lime/topk_correct.png", "lime", "topk_correct", "LIME"),
        wrong=reported(f"{RESULTS}/{{dataset}}/lime/topk_wrong.png", "lime", "topk_wrong", "LIME"),
        examples=reported(f"{RESULTS}/{{dataset}}/lime/examples.csv", "lime", "examples", "LIME", table="fits"),
    log:
        log_path("lime_study"),
    benchmark:
        benchmark_path("lime_study")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        settings=config["lime_study"]["settings"],
        top_k=config["lime_study"]["top_k"],
        n_examples=config["lime_study"]["n_examples"],
        lime_params=lambda wc: config["methods"]["lime"],
        seed=config["seed"],
        device=config["device"],
        code=code("lime_study"),
    script:
        "../scripts/lime_study.py"
