"""Rule explain_summary: figures across every method of one dataset, and extra method outputs."""

from posthoc.rule import run_rule
from posthoc.stages.explain_summary import run

run_rule(run, snakemake)  # noqa: F821
