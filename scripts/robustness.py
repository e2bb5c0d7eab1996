"""Rule robustness: predictions and Grad-CAM stability under noise, brightness and contrast."""

from posthoc.rule import run_rule
from posthoc.stages.robustness import run

run_rule(run, snakemake)  # noqa: F821
