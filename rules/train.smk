# Training (seed 000 §3) and classification evaluation (seed 004 §III-A).


def model_files(wildcards):
    """The user's weights to start from (model.weights) or model to explain (model.checkpoint), if any."""
    model = dataset_cfg(wildcards)["model"]
    return [model[k] for k in ("weights", "checkpoint") if model.get(k)]


rule train:
    input:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        model_files=model_files,
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
        modules=package(*CORE, *DATA_READ, *MODEL, "metrics.py", "plots.py", "stages/evaluate.py"),
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


# CAM's global-average-pooling model (seeds 002, 003): by default a GAP + linear head on the frozen
# features of the dataset's own model (model.cam_model: frozen), else the architecture's GAP variant
# trained from scratch with the dataset's settings; only jobs of method `cam` use it.
def gap_trained(wildcards):
    frozen = dataset_cfg(wildcards)["model"]["cam_model"] == "frozen"
    return f"{RESULTS}/{wildcards.dataset}/model/checkpoint.pt" if frozen else []


rule train_gap:
    input:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        trained=gap_trained,
        modules=package(*CORE, *DATA_READ, *MODEL, "plots.py", "stages/train.py", "stages/train_gap.py"),
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/model_gap/checkpoint.pt",
        history=f"{RESULTS}/{{dataset}}/model_gap/history.csv",
        scores=f"{RESULTS}/{{dataset}}/model_gap/scores.json",
        curves=report(f"{RESULTS}/{{dataset}}/model_gap/training_curves.png", caption="../captions/training.rst",
                      category="Training", subcategory="{dataset}"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
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
        "../scripts/train_gap.py"
