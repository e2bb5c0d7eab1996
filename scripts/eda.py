"""Rule eda: figures of the data and the normalisation statistics."""

from posthoc.rule import run_rule
from posthoc.stages.eda import run

run_rule(run, snakemake)  # noqa: F821
