"""Rule lime_study: top-k superpixel figures of one dataset under several LIME settings."""

from posthoc.rule import run_rule
from posthoc.stages.lime import run

run_rule(run, snakemake)  # noqa: F821
