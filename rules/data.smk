# Datasets → one on-disk layout: {split}_images.npy, {split}_labels.npy, meta.json.
rule prepare_data:
    output:
        arrays=[p for s in SPLITS for p in split_arrays(s)],
        meta=f"{RESULTS}/{{dataset}}/data/meta.json",
    params:
        spec=lambda wc: dataset_cfg(wc)["data"],
        seed=config["seed"],
        code=data_code,
    log:
        log_path("prepare_data"),
    benchmark:
        benchmark_path("prepare_data")
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/prepare_data.py"
