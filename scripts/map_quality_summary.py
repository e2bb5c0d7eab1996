"""Rule map_quality_summary: map-quality tables (with bootstrap intervals) and figures of one dataset."""

from posthoc.rule import run_rule
from posthoc.stages.map_quality_summary import run

run_rule(run, snakemake)  # noqa: F821
