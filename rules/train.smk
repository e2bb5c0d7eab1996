# Training (seed 000 §3) and classification evaluation (seed 004 §III-A).


rule train:
    input:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        modules=package(*CORE, *DATA_READ, *MODEL, "plots.py", "stages/train.py"),
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        history=f"{RESULTS}/{{dataset}}/model/history.csv",
        scores=f"{RESULTS}/{{dataset}}/model/scores.json",
        curves=report(f"{RESULTS}/{{dataset}}/model/training_curves.png", caption="../captions/training.rst",
                      category="Training", subcategory="{dataset}"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
        train=lambda wc: dataset_cfg(wc)["train"],
        seed=config["seed"],
        device=config["device"],
        # Survives an interrupted job (not an output, so Snakemake does not delete it); deleted on success.
        resume=lambda wc, output: str(Path(output.checkpoint).parent / ".resume.pt"),
    log:
        log_path("train"),
    threads: resources_for("train")["cpus_per_task"]
    resources:
        **resources_for("train"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        modules=package(*CORE, *DATA_READ, *MODEL, "metrics/__init__.py", "plots.py", "stages/evaluate.py"),
    output:
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        per_class=f"{RESULTS}/{{dataset}}/evaluation/per_class.csv",
        confusion_csv=f"{RESULTS}/{{dataset}}/evaluation/confusion.csv",
        confusion_png=report(f"{RESULTS}/{{dataset}}/evaluation/confusion.png", caption="../captions/evaluation.rst",
                             category="Evaluation", subcategory="{dataset}"),
        roc_png=report(f"{RESULTS}/{{dataset}}/evaluation/roc.png", caption="../captions/evaluation.rst",
                       category="Evaluation", subcategory="{dataset}"),
        roc_auc=f"{RESULTS}/{{dataset}}/evaluation/roc_auc.csv",
        report=f"{RESULTS}/{{dataset}}/evaluation/classification_report.csv",
    params:
        device=config["device"],
    log:
        log_path("evaluate"),
    threads: resources_for("default")["cpus_per_task"]
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/evaluate.py"


# The global-average-pooling variant (conv features → GAP → linear) that CAM needs (seeds 002, 003):
# same data, settings and seed as the dataset's model; only jobs of method `cam` use it.
rule train_gap:
    input:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        modules=package(*CORE, *DATA_READ, *MODEL, "plots.py", "stages/train.py"),
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/model_gap/checkpoint.pt",
        history=f"{RESULTS}/{{dataset}}/model_gap/history.csv",
        scores=f"{RESULTS}/{{dataset}}/model_gap/scores.json",
        curves=report(f"{RESULTS}/{{dataset}}/model_gap/training_curves.png", caption="../captions/training.rst",
                      category="Training", subcategory="{dataset}"),
    params:
        model=lambda wc: {**dataset_cfg(wc)["model"], "gap": True},
        train=lambda wc: dataset_cfg(wc)["train"],
        seed=config["seed"],
        device=config["device"],
        resume=lambda wc, output: str(Path(output.checkpoint).parent / ".resume.pt"),
    log:
        log_path("train_gap"),
    threads: resources_for("train")["cpus_per_task"]
    resources:
        **resources_for("train"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/train.py"
