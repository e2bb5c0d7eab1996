# Training (seed 000 §3), or taking in an existing model (model.checkpoint), and classification evaluation
# (seed 004 §III-A).


rule train:
    input:
        [p for s in SPLITS for p in split_arrays(s)],  # read through meta's folder
        model_files,  # read through the model config
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        history=reported(
            f"{RESULTS}/{{dataset}}/model/history.csv", "model", "history", "Training", table="history (model)"
        ),
        scores=f"{RESULTS}/{{dataset}}/model/scores.json",
        curves=reported(f"{RESULTS}/{{dataset}}/model/training_curves.png", "model", "training_curves", "Training"),
    log:
        log_path("train"),
    benchmark:
        benchmark_path("train")
    wildcard_constraints:
        dataset=one_of(TRAINED),
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("train")["cpus_per_task"]
    resources:
        **resources_for("train"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
        train=lambda wc: dataset_cfg(wc)["train"],
        seed=config["seed"],
        device=config["device"],
        # Survives an interrupted job (not an output, so Snakemake does not delete it); deleted on success.
        resume=lambda wc, output: str(Path(output.checkpoint).parent / ".resume.pt"),
        code=code("train"),
    script:
        "../scripts/train.py"


# A dataset whose config names model.checkpoint: the file is validated, written in the study's checkpoint format
# and scored; no training job.
rule import_model:
    input:
        [p for s in SPLITS for p in split_arrays(s)],  # read through meta's folder
        model_files,  # read through the model config
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        scores=f"{RESULTS}/{{dataset}}/model/scores.json",
    log:
        log_path("import_model"),
    benchmark:
        benchmark_path("import_model")
    wildcard_constraints:
        dataset=one_of(IMPORTED),
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("default")["cpus_per_task"]
    resources:
        **resources_for("default"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
        seed=config["seed"],
        device=config["device"],
        code=code("import_model"),
    script:
        "../scripts/import_model.py"


# Replicates 1 .. N - 1 of the dataset's model (config replicates), seed + replicate: one job each.
rule train_replicate:
    input:
        [p for s in SPLITS for p in split_arrays(s)],  # read through meta's folder
        model_files,  # read through the model config
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/replicates/{{replicate}}/model/checkpoint.pt",
        history=f"{RESULTS}/{{dataset}}/replicates/{{replicate}}/model/history.csv",
        scores=f"{RESULTS}/{{dataset}}/replicates/{{replicate}}/model/scores.json",
        curves=f"{RESULTS}/{{dataset}}/replicates/{{replicate}}/model/training_curves.png",
    log:
        log_path("train_replicate_{replicate}"),
    benchmark:
        benchmark_path("train_replicate_{replicate}")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("train")["cpus_per_task"]
    resources:
        **resources_for("train"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
        train=lambda wc: dataset_cfg(wc)["train"],
        seed=config["seed"],
        device=config["device"],
        resume=lambda wc, output: str(Path(output.checkpoint).parent / ".resume.pt"),
        code=code("train_replicate"),
    script:
        "../scripts/train_replicate.py"


# The data-randomisation model (map_quality.sanity.data_randomisation): the same training on permuted labels.
rule train_shuffled:
    input:
        [p for s in SPLITS for p in split_arrays(s)],  # read through meta's folder
        model_files,  # read through the model config
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/data_randomisation/model/checkpoint.pt",
        history=f"{RESULTS}/{{dataset}}/data_randomisation/model/history.csv",
        scores=f"{RESULTS}/{{dataset}}/data_randomisation/model/scores.json",
        curves=f"{RESULTS}/{{dataset}}/data_randomisation/model/training_curves.png",
    log:
        log_path("train_shuffled"),
    benchmark:
        benchmark_path("train_shuffled")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("train")["cpus_per_task"]
    resources:
        **resources_for("train"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
        train=lambda wc: dataset_cfg(wc)["train"],
        seed=config["seed"],
        device=config["device"],
        resume=lambda wc, output: str(Path(output.checkpoint).parent / ".resume.pt"),
        code=code("train_shuffled"),
    script:
        "../scripts/train_shuffled.py"


rule evaluate:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
    output:
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        per_class=reported(
            f"{RESULTS}/{{dataset}}/evaluation/per_class.csv",
            "evaluation",
            "per_class",
            "Evaluation",
            table="per-class accuracy",
        ),
        confusion_csv=reported(
            f"{RESULTS}/{{dataset}}/evaluation/confusion.csv",
            "evaluation",
            "confusion",
            "Evaluation",
            table="confusion",
        ),
        confusion_png=reported(
            f"{RESULTS}/{{dataset}}/evaluation/confusion.png", "evaluation", "confusion", "Evaluation"
        ),
        roc_png=reported(f"{RESULTS}/{{dataset}}/evaluation/roc.png", "evaluation", "roc", "Evaluation"),
        roc_auc=reported(
            f"{RESULTS}/{{dataset}}/evaluation/roc_auc.csv", "evaluation", "roc_auc", "Evaluation", table="ROC AUC"
        ),
        report=reported(
            f"{RESULTS}/{{dataset}}/evaluation/classification_report.csv",
            "evaluation",
            "classification_report",
            "Evaluation",
            table="classification report",
        ),
    log:
        log_path("evaluate"),
    benchmark:
        benchmark_path("evaluate")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("default")["cpus_per_task"]
    resources:
        **resources_for("default"),
    params:
        device=config["device"],
        code=code("evaluate"),
    script:
        "../scripts/evaluate.py"


# The global-average-pooling model that methods with `explains="model_gap"` (CAM; seeds 002, 003) explain:
# by default a GAP + linear head on the frozen features of the dataset's own model (model.cam_model: frozen),
# else the architecture's GAP variant trained from scratch with the dataset's settings.
rule train_gap:
    input:
        [p for s in SPLITS for p in split_arrays(s)],  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        trained=gap_trained,
    output:
        checkpoint=f"{RESULTS}/{{dataset}}/model_gap/checkpoint.pt",
        history=reported(
            f"{RESULTS}/{{dataset}}/model_gap/history.csv",
            "model_gap",
            "history",
            "Training",
            table="history (GAP model)",
        ),
        scores=f"{RESULTS}/{{dataset}}/model_gap/scores.json",
        curves=reported(
            f"{RESULTS}/{{dataset}}/model_gap/training_curves.png", "model_gap", "training_curves", "Training"
        ),
    log:
        log_path("train_gap"),
    benchmark:
        benchmark_path("train_gap")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("train")["cpus_per_task"]
    resources:
        **resources_for("train"),
    params:
        model=lambda wc: dataset_cfg(wc)["model"],
        train=lambda wc: dataset_cfg(wc)["train"],
        seed=config["seed"],
        device=config["device"],
        resume=lambda wc, output: str(Path(output.checkpoint).parent / ".resume.pt"),
        code=code("train_gap"),
    script:
        "../scripts/train_gap.py"
