"""Rule train_gap: CAM's global-average-pooling model (a linear head on frozen features, or from scratch)."""

from posthoc.rule import run_rule
from posthoc.stages.train_gap import run

run_rule(run, snakemake)  # noqa: F821
