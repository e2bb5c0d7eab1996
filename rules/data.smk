# Datasets → one on-disk layout: {split}_images.npy, {split}_labels.npy, meta.json.
rule prepare_data:
    output:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
    log:
        log_path("prepare_data"),
    benchmark:
        benchmark_path("prepare_data")
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        spec=lambda wc: dataset_cfg(wc)["data"],
        seed=config["seed"],
        code=data_code,
    script:
        "../scripts/prepare_data.py"
