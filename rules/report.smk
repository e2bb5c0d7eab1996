# One self-contained HTML report with every figure and table (plus `snakemake --report`).


rule report:
    input:
        eda=expand(f"{RESULTS}/{{dataset}}/eda/stats.json", dataset=DATASETS),
        scores=expand(f"{RESULTS}/{{dataset}}/model/scores.json", dataset=DATASETS),
        evaluation=expand(f"{RESULTS}/{{dataset}}/evaluation/classification_report.csv", dataset=DATASETS),
        explanations=expand(f"{RESULTS}/{{dataset}}/explanations/{{method}}.png", dataset=DATASETS, method=METHODS),
        faithfulness=expand(f"{RESULTS}/{{dataset}}/faithfulness/summary.png", dataset=DATASETS),
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
