# What the network learned (seeds 001 ch. 4, 002, 003): activations over the test split, filters,
# maximally activating patches; feature, class and layer visualisation and DeepDream.

ACTIVATION_FIGURES = ["feature_maps", "class_heatmap", "filters", "patches"]
FEATURE_FIGURES = {
    "class_figure": "classes",
    "channel_figure": "channels",
    "layer_figure": "layers",
    "dream_figure": "dreams",
}  # rule output key -> file stem
FEATURE_OUTPUTS = (
    expand(f"{RESULTS}/{{dataset}}/activations/{{name}}.png", dataset=LAYERED, name=ACTIVATION_FIGURES)
    + expand(f"{RESULTS}/{{dataset}}/activations/{{name}}", dataset=LAYERED, name=["top.npz", "layers.csv"])
    + expand(
        f"{RESULTS}/{{dataset}}/features/{{name}}",
        dataset=LAYERED,
        name=["classes.npz", "channels.npz", "scores.csv"] + [f"{f}.png" for f in FEATURE_FIGURES.values()],
    )
)  # for rule report


rule activations:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
    output:
        **{name: feature_figure("activations", name) for name in ACTIVATION_FIGURES},
        top=f"{RESULTS}/{{dataset}}/activations/top.npz",
        summary=f"{RESULTS}/{{dataset}}/activations/summary.npz",
        table=f"{RESULTS}/{{dataset}}/activations/layers.csv",
    log:
        log_path("activations"),
    benchmark:
        benchmark_path("activations")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        k=config["activations"]["k"],
        n_channels=config["activations"]["n_channels"],
        n_maps=config["activations"]["n_maps"],
        batch_size=config["activations"]["batch_size"],
        device=config["device"],
        code=code("activations"),
    script:
        "../scripts/activations.py"


rule feature_vis:
    input:
        split_arrays("test"),  # read through meta's folder
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
        checkpoint=f"{RESULTS}/{{dataset}}/model/checkpoint.pt",
        predictions=f"{RESULTS}/{{dataset}}/evaluation/predictions.npz",
        top=f"{RESULTS}/{{dataset}}/activations/top.npz",
        summary=f"{RESULTS}/{{dataset}}/activations/summary.npz",
    output:
        **{key: feature_figure("features", stem) for key, stem in FEATURE_FIGURES.items()},
        classes=f"{RESULTS}/{{dataset}}/features/classes.npz",
        channels=f"{RESULTS}/{{dataset}}/features/channels.npz",
        scores=f"{RESULTS}/{{dataset}}/features/scores.csv",
    log:
        log_path("feature_vis"),
    benchmark:
        benchmark_path("feature_vis")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("explain")["cpus_per_task"]
    resources:
        **resources_for("explain"),
    params:
        settings={k: v for k, v in config["feature_vis"].items() if k not in ("n_channels", "deepdream")},
        n_channels=config["feature_vis"]["n_channels"],
        deepdream=config["feature_vis"]["deepdream"],
        seed=config["seed"],
        device=config["device"],
        code=code("feature_vis"),
    script:
        "../scripts/feature_vis.py"
