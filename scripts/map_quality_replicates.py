"""Rule map_quality_replicates: mean ± sd over replicate models of every map-quality metric and the accuracy."""

from posthoc.rule import run_rule
from posthoc.stages.map_quality_replicates import run

run_rule(run, snakemake)  # noqa: F821
