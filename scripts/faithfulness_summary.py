"""Rule faithfulness_summary: one figure of every method's drop and increase rates."""

from posthoc.rule import run_rule
from posthoc.stages.faithfulness_summary import run

run_rule(run, snakemake)  # noqa: F821
