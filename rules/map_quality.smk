# Can the maps be trusted? Localisation, sanity checks (randomisation), deletion/insertion curves,
# per-image drop/increase with a tolerance, bootstrap intervals and paired method differences.

MQ = config["map_quality"]
MAP_QUALITY = f"{RESULTS}/{{dataset}}/map_quality"
MAP_QUALITY_TABLES = ["localisation", "sanity", "sanity_flags", "deletion", "drop_increase", "per_image_drop",
                      "paired", "seed004", "trust"]
MAP_QUALITY_FIGURES = ["deletion_curves", "sanity_curves", "sanity_maps", "localisation", "best_worst"]


def map_quality_modules(wildcards):
    """The method's own modules (its maps are recomputed under randomised models) and the metrics; blockdigits
    jobs also rebuild the distractor boxes from data/blockdigits.py."""
    kind = dataset_cfg(wildcards)["data"]["kind"]
    return method_modules(wildcards) + package(
        "metrics/__init__.py", "metrics/deletion.py", "metrics/localisation.py", "metrics/randomisation.py",
        "stages/map_quality.py", *(["data/blockdigits.py"] if kind == "blockdigits" else []))


rule map_quality:
    input:
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",  # CAM: scored on the GAP model it explains
        explanations=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        arrays=split_arrays("test"),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        modules=map_quality_modules,
    output:
        per_image=f"{MAP_QUALITY}/{{method}}.npz",
    params:
        data_dir=lambda wc: f"{RESULTS}/{wc.dataset}/data",
        method_params=lambda wc: config["methods"][wc.method],
        data_spec=lambda wc: dataset_cfg(wc)["data"],
        keep_percent=lambda wc: dataset_cfg(wc)["faithfulness"]["keep_percent"],
        fill=MQ["fill"],
        topk_percent=MQ["topk_percent"],
        curve_steps=MQ["curves"]["steps"],
        curve_n_eval=MQ["curves"]["n_eval"],
        sanity_n=MQ["sanity"]["n_images"],
        seed004_variant=MQ["seed004_variant"],
        batch_size=MQ["batch_size"],
        seed=config["seed"],
        device=config["device"],
    log:
        log_path("map_quality_{method}"),
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/map_quality.py"


rule map_quality_summary:
    input:
        per_image=expand(f"{RESULTS}/{{{{dataset}}}}/map_quality/{{method}}.npz", method=METHODS),
        explanations=expand(f"{RESULTS}/{{{{dataset}}}}/explanations/{{method}}.npz", method=METHODS),
        scores=f"{RESULTS}/{{dataset}}/model/scores.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        modules=package(*CORE, "preprocess.py", "metrics/__init__.py", "metrics/deletion.py", "metrics/intervals.py",
                        "plots_quality.py", "stages/map_quality_summary.py"),
    output:
        localisation=f"{MAP_QUALITY}/localisation.csv",
        sanity=f"{MAP_QUALITY}/sanity.csv",
        flags=f"{MAP_QUALITY}/sanity_flags.csv",
        deletion=f"{MAP_QUALITY}/deletion.csv",
        drop_increase=f"{MAP_QUALITY}/drop_increase.csv",
        per_image_drop=f"{MAP_QUALITY}/per_image_drop.csv",
        paired=f"{MAP_QUALITY}/paired.csv",
        seed004=f"{MAP_QUALITY}/seed004.csv",
        trust=f"{MAP_QUALITY}/trust.csv",
        curves_figure=f"{MAP_QUALITY}/deletion_curves.png",
        sanity_figure=f"{MAP_QUALITY}/sanity_curves.png",
        sanity_maps_figure=f"{MAP_QUALITY}/sanity_maps.png",
        localisation_figure=f"{MAP_QUALITY}/localisation.png",
        best_worst_figure=f"{MAP_QUALITY}/best_worst.png",
    params:
        data_kind=lambda wc: dataset_cfg(wc)["data"]["kind"],
        increase_tolerance=MQ["increase_tolerance"],
        survive_threshold=MQ["sanity"]["survive_threshold"],
        n_boot=MQ["bootstrap"]["n_boot"],
        confidence=MQ["bootstrap"]["confidence"],
        fill=MQ["fill"],
        seed=config["seed"],
    log:
        log_path("map_quality_summary"),
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/map_quality_summary.py"


MAP_QUALITY_OUTPUTS = expand(f"{RESULTS}/{{dataset}}/map_quality/{{name}}", dataset=DATASETS,
                             name=[f"{t}.csv" for t in MAP_QUALITY_TABLES] + [f"{f}.png" for f in MAP_QUALITY_FIGURES])
