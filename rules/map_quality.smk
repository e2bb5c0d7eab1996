# Can the maps be trusted? Localisation, sanity checks (randomisation), deletion/insertion curves,
# per-image drop/increase with a tolerance, bootstrap intervals and paired method differences.

MQ = config["map_quality"]
MAP_QUALITY = f"{RESULTS}/{{dataset}}/map_quality"
MAP_QUALITY_TABLES = ["localisation", "sanity", "sanity_flags", "deletion", "drop_increase", "per_image_drop",
                      "paired", "seed004", "trust"]
MAP_QUALITY_FIGURES = ["deletion_curves", "sanity_curves", "sanity_maps", "localisation", "best_worst"]


def map_quality_code(wildcards):
    """The stage's modules and the method's own (its maps are recomputed under randomised models)."""
    return code("map_quality", f"explain.{wildcards.method}")


def _mq(name, stem=None, table=None):
    return reported(f"{MAP_QUALITY}/{name}", "map_quality", stem or name.rsplit(".", 1)[0], "Map quality", table=table)


rule map_quality:
    input:
        split_arrays("test"),  # read through meta's folder
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",  # scored on the model the method explains
        explanations=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
    output:
        per_image=f"{MAP_QUALITY}/{{method}}.npz",
    params:
        method_params=method_params,
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
        code=map_quality_code,
    log:
        log_path("map_quality_{method}"),
    benchmark:
        benchmark_path("map_quality_{method}")
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
    output:
        localisation=_mq("localisation.csv", table="localisation"),
        sanity=_mq("sanity.csv", table="sanity"),
        flags=_mq("sanity_flags.csv", table="sanity_flags"),
        deletion=_mq("deletion.csv", table="deletion"),
        drop_increase=_mq("drop_increase.csv", table="drop_increase"),
        per_image_drop=_mq("per_image_drop.csv", table="per_image_drop"),
        paired=_mq("paired.csv", table="paired"),
        seed004=_mq("seed004.csv", table="seed004"),
        trust=_mq("trust.csv", table="trust"),
        curves_figure=_mq("deletion_curves.png"),
        sanity_figure=_mq("sanity_curves.png"),
        sanity_maps_figure=_mq("sanity_maps.png"),
        localisation_figure=_mq("localisation.png"),
        best_worst_figure=_mq("best_worst.png"),
    params:
        data_kind=lambda wc: dataset_cfg(wc)["data"]["kind"],
        increase_tolerance=MQ["increase_tolerance"],
        survive_threshold=MQ["sanity"]["survive_threshold"],
        n_boot=MQ["bootstrap"]["n_boot"],
        confidence=MQ["bootstrap"]["confidence"],
        fill=MQ["fill"],
        seed=config["seed"],
        code=code("map_quality_summary"),
    log:
        log_path("map_quality_summary"),
    benchmark:
        benchmark_path("map_quality_summary")
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/map_quality_summary.py"


MAP_QUALITY_OUTPUTS = expand(f"{RESULTS}/{{dataset}}/map_quality/{{name}}", dataset=DATASETS,
                             name=[f"{t}.csv" for t in MAP_QUALITY_TABLES] + [f"{f}.png" for f in MAP_QUALITY_FIGURES])
