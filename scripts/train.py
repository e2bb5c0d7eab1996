"""Rule train: fit one dataset's model (resumes after an interruption); also rule train_gap."""

from posthoc.rule import run_rule
from posthoc.stages.train import run

run_rule(run, snakemake)  # noqa: F821
