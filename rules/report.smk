# One self-contained HTML report with every figure and table (plus `snakemake --report`).


rule report:
    input:
        expand(f"{RESULTS}/{{dataset}}/eda/stats.json", dataset=DATASETS),
        expand(f"{RESULTS}/{{dataset}}/model/scores.json", dataset=DATASETS),
        expand(f"{RESULTS}/{{dataset}}/evaluation/classification_report.csv", dataset=DATASETS),
        expand(f"{RESULTS}/{{dataset}}/explanations/{{method}}.png", dataset=DATASETS, method=METHODS),
        expand(f"{RESULTS}/{{dataset}}/faithfulness/summary.png", dataset=DATASETS),
        expand(
            f"{RESULTS}/{{dataset}}/explanations/{{figure}}.png",
            dataset=DATASETS,
            figure=["comparison", "per_class", "confusions"],
        ),
        expand(list(EXTRA_OUTPUTS.values()), dataset=DATASETS),  # methods' extra outputs (rules/explain.smk)
        # every model a method explains besides the dataset's own (e.g. the GAP model of CAM)
        expand(
            f"{RESULTS}/{{dataset}}/{{model}}/scores.json",
            dataset=DATASETS,
            model=sorted({TRAITS[m].explains for m in METHODS} - {"model"}),
        ),
        PERTURBATION_OUTPUTS,  # occlusion/ and lime/ (rules/perturbation.smk)
        ROBUSTNESS_OUTPUTS,
        FEATURE_OUTPUTS,  # activations/ and features/ (rules/features.smk)
        MAP_QUALITY_OUTPUTS,  # map_quality/ (rules/map_quality.smk)
    output:
        html=f"{RESULTS}/report.html",
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        "../envs/posthoc.yaml"
    resources:
        **resources_for("default"),
    params:
        results=lambda wc, output: str(Path(output.html).parent),
        config=config,
        # contents, not paths: moving the checkout changes nothing, editing a table or caption reruns the report
        speed_tables=read_speed_tables(Path(workflow.basedir) / "benchmarks" / "results"),
        captions=CAPTIONS,
        code=code("report"),
    script:
        "../scripts/report.py"
