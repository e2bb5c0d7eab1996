# Can the maps be trusted? Localisation, sanity checks (randomisation), deletion/insertion curves,
# per-image drop/increase with a tolerance, bootstrap intervals and paired method differences.

MQ = config["map_quality"]
MAP_QUALITY = f"{RESULTS}/{{dataset}}/map_quality"
MAP_QUALITY_TABLES = [
    "localisation",
    "sanity",
    "sanity_flags",
    "deletion",
    "drop_increase",
    "per_image_drop",
    "paired",
    "seed004",
    "trust",
]
MAP_QUALITY_FIGURES = ["deletion_curves", "sanity_curves", "sanity_maps", "localisation", "best_worst"]


rule map_quality:
    input:
        split_arrays("test"),  # read through meta's folder
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",  # scored on the model the method explains
        explanations=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
    output:
        per_image=f"{MAP_QUALITY}/{{method}}.npz",
    log:
        log_path("map_quality_{method}"),
    benchmark:
        benchmark_path("map_quality_{method}")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
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
    script:
        "../scripts/map_quality.py"


rule map_quality_summary:
    input:
        per_image=expand(f"{RESULTS}/{{{{dataset}}}}/map_quality/{{method}}.npz", method=METHODS),
        explanations=expand(f"{RESULTS}/{{{{dataset}}}}/explanations/{{method}}.npz", method=METHODS),
        scores=f"{RESULTS}/{{dataset}}/model/scores.json",
        stats=f"{RESULTS}/{{dataset}}/eda/stats.json",
        data_randomisation=data_randomisation_input,
    output:
        localisation=map_quality_output("localisation.csv", table="localisation"),
        sanity=map_quality_output("sanity.csv", table="sanity"),
        flags=map_quality_output("sanity_flags.csv", table="sanity_flags"),
        deletion=map_quality_output("deletion.csv", table="deletion"),
        drop_increase=map_quality_output("drop_increase.csv", table="drop_increase"),
        per_image_drop=map_quality_output("per_image_drop.csv", table="per_image_drop"),
        paired=map_quality_output("paired.csv", table="paired"),
        seed004=map_quality_output("seed004.csv", table="seed004"),
        trust=map_quality_output("trust.csv", table="trust"),
        curves_figure=map_quality_output("deletion_curves.png"),
        sanity_figure=map_quality_output("sanity_curves.png"),
        sanity_maps_figure=map_quality_output("sanity_maps.png"),
        localisation_figure=map_quality_output("localisation.png"),
        best_worst_figure=map_quality_output("best_worst.png"),
    log:
        log_path("map_quality_summary"),
    benchmark:
        benchmark_path("map_quality_summary")
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        data_kind=lambda wc: dataset_cfg(wc)["data"]["kind"],
        increase_tolerance=MQ["increase_tolerance"],
        survive_threshold=MQ["sanity"]["survive_threshold"],
        n_boot=MQ["bootstrap"]["n_boot"],
        confidence=MQ["bootstrap"]["confidence"],
        fill=MQ["fill"],
        seed=config["seed"],
        code=code("map_quality_summary"),
    script:
        "../scripts/map_quality_summary.py"


# Every method that explains the dataset's model, on replicate r (rule train_replicate): one job per
# (dataset, replicate) scores them all as map_quality does.
rule replicate_quality:
    input:
        split_arrays("test"),  # read through meta's folder
        checkpoint=f"{RESULTS}/{{dataset}}/replicates/{{replicate}}/model/checkpoint.pt",
        explanations=expand(f"{RESULTS}/{{{{dataset}}}}/explanations/{{method}}.npz", method=MODEL_METHODS),
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
    output:
        per_image=f"{RESULTS}/{{dataset}}/replicates/{{replicate}}/map_quality.npz",
    log:
        log_path("replicate_quality_{replicate}"),
    benchmark:
        benchmark_path("replicate_quality_{replicate}")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        methods=MODEL_METHODS,
        method_params=model_methods_params,
        data_spec=lambda wc: dataset_cfg(wc)["data"],
        keep_percent=lambda wc: dataset_cfg(wc)["faithfulness"]["keep_percent"],
        fill=MQ["fill"],
        topk_percent=MQ["topk_percent"],
        curve_steps=MQ["curves"]["steps"],
        curve_n_eval=MQ["curves"]["n_eval"],
        batch_size=MQ["batch_size"],
        seed=config["seed"],
        device=config["device"],
        code=model_methods_code("replicate_quality"),
    script:
        "../scripts/replicate_quality.py"


rule map_quality_replicates:
    input:
        per_image=expand(f"{RESULTS}/{{{{dataset}}}}/map_quality/{{method}}.npz", method=MODEL_METHODS),
        scores=f"{RESULTS}/{{dataset}}/model/scores.json",
        replicate_scores=expand(
            f"{RESULTS}/{{{{dataset}}}}/replicates/{{replicate}}/map_quality.npz", replicate=REPLICATES
        ),
        replicate_models=expand(
            f"{RESULTS}/{{{{dataset}}}}/replicates/{{replicate}}/model/scores.json", replicate=REPLICATES
        ),
    output:
        replicates=map_quality_output("replicates.csv", table="replicates"),
    log:
        log_path("map_quality_replicates"),
    benchmark:
        benchmark_path("map_quality_replicates")
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        increase_tolerance=MQ["increase_tolerance"],
        code=code("map_quality_replicates"),
    script:
        "../scripts/map_quality_replicates.py"


# The data randomisation test: each method's maps on the shuffled-label model (rule train_shuffled).
rule data_randomisation:
    input:
        checkpoint=f"{RESULTS}/{{dataset}}/data_randomisation/model/checkpoint.pt",
        explanations=expand(f"{RESULTS}/{{{{dataset}}}}/explanations/{{method}}.npz", method=MODEL_METHODS),
    output:
        similarity=f"{RESULTS}/{{dataset}}/data_randomisation/similarity.npz",
    log:
        log_path("data_randomisation"),
    benchmark:
        benchmark_path("data_randomisation")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        methods=MODEL_METHODS,
        method_params=model_methods_params,
        sanity_n=MQ["sanity"]["n_images"],
        batch_size=MQ["batch_size"],
        device=config["device"],
        code=model_methods_code("data_randomisation"),
    script:
        "../scripts/data_randomisation.py"


MAP_QUALITY_OUTPUTS = expand(
    f"{RESULTS}/{{dataset}}/map_quality/{{name}}",
    dataset=LAYERED,
    name=[f"{t}.csv" for t in MAP_QUALITY_TABLES]
    + [f"{f}.png" for f in MAP_QUALITY_FIGURES]
    + (["replicates.csv"] if REPLICATES else []),
)
