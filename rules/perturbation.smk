# Perturbation family beyond the contract maps (issue 4): the occlusion study (seed 000 §4.2) and the
# LIME top-k figures (seed 001 §2.4); each runs only when its method is in `methods`. The contract
# maps and drop/increase rates of both methods come from rules explain and faithfulness.


# What rule report needs from this file (nothing for a method left out of the study).
PERTURBATION_OUTPUTS = expand(f"{RESULTS}/{{dataset}}/occlusion/sweep.csv", dataset=DATASETS if "occlusion" in METHODS else [])
PERTURBATION_OUTPUTS += expand(f"{RESULTS}/{{dataset}}/lime/examples.csv", dataset=DATASETS if "lime" in METHODS else [])


rule occlusion_study:
    input:
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        modules=package(*CORE, *DATA_READ, *MODEL, "plots.py", "explain/__init__.py", "explain/base.py",
                        "explain/occlusion.py", "stages/explain.py", "stages/occlusion.py"),
    output:
        correct=report(f"{RESULTS}/{{dataset}}/occlusion/panels_correct.png", caption="../captions/occlusion.rst",
                       category="Occlusion", subcategory="{dataset}"),
        wrong=report(f"{RESULTS}/{{dataset}}/occlusion/panels_wrong.png", caption="../captions/occlusion.rst",
                     category="Occlusion", subcategory="{dataset}"),
        sweep=report(f"{RESULTS}/{{dataset}}/occlusion/sweep.csv", caption="../captions/tables/occlusion_sweep.rst",
                     category="Occlusion", subcategory="{dataset}", labels={"dataset": "{dataset}", "table": "sweep"}),
    params:
        study=config["occlusion_study"],
        method=config["methods"].get("occlusion", {}),
        seed=config["seed"],
        device=config["device"],
    log:
        log_path("occlusion_study"),
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/occlusion_study.py"


rule lime_study:
    input:
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        modules=package(*CORE, *DATA_READ, *MODEL, "plots.py", "explain/__init__.py", "explain/base.py",
                        "explain/lime.py", "stages/explain.py", "stages/lime.py"),
    output:
        correct=report(f"{RESULTS}/{{dataset}}/lime/topk_correct.png", caption="../captions/lime.rst",
                       category="LIME", subcategory="{dataset}"),
        wrong=report(f"{RESULTS}/{{dataset}}/lime/topk_wrong.png", caption="../captions/lime.rst",
                     category="LIME", subcategory="{dataset}"),
        examples=report(f"{RESULTS}/{{dataset}}/lime/examples.csv", caption="../captions/tables/lime_examples.rst",
                        category="LIME", subcategory="{dataset}", labels={"dataset": "{dataset}", "table": "fits"}),
    params:
        study=config["lime_study"],
        method=config["methods"].get("lime", {}),
        seed=config["seed"],
        device=config["device"],
    log:
        log_path("lime_study"),
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/lime_study.py"
