# One self-contained HTML report with every figure and table (plus `snakemake --report`).


rule report:
    input:
        eda=expand(f"{RESULTS}/{{dataset}}/eda/stats.json", dataset=DATASETS),
        scores=expand(f"{RESULTS}/{{dataset}}/model/scores.json", dataset=DATASETS),
        evaluation=expand(f"{RESULTS}/{{dataset}}/evaluation/classification_report.csv", dataset=DATASETS),
        explanations=expand(f"{RESULTS}/{{dataset}}/explanations/{{method}}.png", dataset=DATASETS, method=METHODS),
        faithfulness=expand(f"{RESULTS}/{{dataset}}/faithfulness/summary.png", dataset=DATASETS),
        method_figures=expand(f"{RESULTS}/{{dataset}}/explanations/{{figure}}.png", dataset=DATASETS,
                              figure=["comparison", "per_class", "confusions"]),
        completeness=expand(f"{RESULTS}/{{dataset}}/explanations/integrated_gradients_completeness.csv",
                            dataset=DATASETS if "integrated_gradients" in METHODS else []),
        gap_models=expand(f"{RESULTS}/{{dataset}}/model_gap/scores.json", dataset=DATASETS if "cam" in METHODS else []),
        perturbation=PERTURBATION_OUTPUTS,  # occlusion/ and lime/ (rules/perturbation.smk)
        robustness=ROBUSTNESS_OUTPUTS,
        map_quality=MAP_QUALITY_OUTPUTS,
        speed=sorted(str(p) for p in (Path(workflow.basedir) / "benchmarks" / "results").glob("*.csv")),
        template=package("report/template.html.j2"),
        modules=package(*CORE, "report/__init__.py", "report/builder.py", "stages/report.py"),
    output:
        f"{RESULTS}/report.html",
    params:
        results=lambda wc, output: str(Path(output[0]).parent),
        config=config,
    log:
        f"{RESULTS}/logs/report.log",
    resources:
        **resources_for("default"),
    conda:
        "../envs/posthoc.yaml"
    script:
        "../scripts/report.py"
