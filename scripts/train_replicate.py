"""Rule train_replicate: one more replicate of a dataset's model (seed + replicate)."""

from posthoc.rule import run_rule
from posthoc.stages.train_replicate import run

run_rule(run, snakemake)  # noqa: F821
