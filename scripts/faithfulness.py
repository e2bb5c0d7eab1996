"""Rule faithfulness: drop and increase rates of one method's maps, per layer."""

from posthoc.rule import run_rule
from posthoc.stages.faithfulness import run

run_rule(run, snakemake)  # noqa: F821
