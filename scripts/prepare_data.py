"""Rule prepare_data: build one dataset in the common layout."""

from posthoc.rule import run_rule
from posthoc.stages.data import run

run_rule(run, snakemake)  # noqa: F821
