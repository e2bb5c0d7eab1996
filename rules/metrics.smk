# Faithfulness: drop rate and increase rate per method and layer (seed 004 §III-C).


rule faithfulness:
    input:
        checkpoint=lambda wc: f"{model_dir(wc)}/checkpoint.pt",  # CAM: scored on the GAP model it explains
        maps=f"{RESULTS}/{{dataset}}/explanations/{{method}}.npz",
        modules=package(*CORE, *MODEL, "metrics/__init__.py", "stages/faithfulness.py"),
    output:
        f"{RESULTS}/{{dataset}}/faithfulness/{{method}}.csv",
    params:
        keep_percent=lambda wc: dataset_cfg(wc)["faithfulness"]["keep_percent"],
        fill=config["faithfulness"]["fill"],
        batch_size=config["faithfulness"]["batch_size"],
        device=config["device"],
    log:
        log_path("faithfulness_{method}"),
    threads: resources_for("default")["cpus_per_task"]
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/faithfulness.py"


rule faithfulness_summary:
    input:
        tables=expand(f"{RESULTS}/{{{{dataset}}}}/faithfulness/{{method}}.csv", method=METHODS),
        modules=package(*CORE, "plots.py", "stages/faithfulness.py"),
    output:
        report(f"{RESULTS}/{{dataset}}/faithfulness/summary.png", caption="../captions/faithfulness.rst",
               category="Faithfulness", subcategory="{dataset}"),
    log:
        log_path("faithfulness_summary"),
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/faithfulness_summary.py"
