"""Rule evaluate: per-class accuracy, confusion, ROC and precision/recall/F1 on the test split."""

from posthoc.rule import run_rule
from posthoc.stages.evaluate import run

run_rule(run, snakemake)  # noqa: F821
