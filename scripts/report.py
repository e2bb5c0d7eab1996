"""Rule report: the final self-contained HTML report."""

from posthoc.rule import run_rule
from posthoc.stages.report import run

run_rule(run, snakemake)  # noqa: F821
