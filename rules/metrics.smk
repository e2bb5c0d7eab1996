# Faithfulness: drop rate and increase rate per method and layer (seed 004 §III-C).
rule faithfulness:
    input:
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",  # scored on the model the method explains
        maps=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
    output:
        table=reported(
            f"{RESULTS}/{{dataset}}/faithfulness/{{method}}.csv",
            "faithfulness",
            "{method}",
            "Faithfulness",
            table="{method}",
        ),
    log:
        log_path("faithfulness_{method}"),
    benchmark:
        benchmark_path("faithfulness_{method}")
    conda:
        "../envs/posthoc.yaml"
    threads: resources_for("default")["cpus_per_task"]
    resources:
        **resources_for("default"),
    params:
        keep_percent=lambda wc: dataset_cfg(wc)["faithfulness"]["keep_percent"],
        fill=config["faithfulness"]["fill"],
        batch_size=config["faithfulness"]["batch_size"],
        device=config["device"],
        code=code("faithfulness"),
    script:
        "../scripts/faithfulness.py"


rule faithfulness_summary:
    input:
        tables=expand(f"{RESULTS}/{{{{dataset}}}}/faithfulness/{{method}}.csv", method=METHODS),
    output:
        summary=reported(f"{RESULTS}/{{dataset}}/faithfulness/summary.png", "faithfulness", "summary", "Faithfulness"),
    log:
        log_path("faithfulness_summary"),
    benchmark:
        benchmark_path("faithfulness_summary")
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        code=code("faithfulness_summary"),
    script:
        "../scripts/faithfulness_summary.py"
