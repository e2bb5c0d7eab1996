"""Rule feature_vis: channel, layer and class visualisation and DeepDream, each one batch."""

from posthoc.rule import run_rule
from posthoc.stages.feature_vis import run

run_rule(run, snakemake)  # noqa: F821
