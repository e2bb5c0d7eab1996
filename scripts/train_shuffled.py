"""Rule train_shuffled: the data-randomisation model (trained on permuted training labels)."""

from posthoc.rule import run_rule
from posthoc.stages.train_shuffled import run

run_rule(run, snakemake)  # noqa: F821
