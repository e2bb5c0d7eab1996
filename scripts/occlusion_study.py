"""Rule occlusion_study: the five-panel figures and the window/stride sweep of one dataset."""

from posthoc.rule import run_rule
from posthoc.stages.occlusion import run

run_rule(run, snakemake)  # noqa: F821
