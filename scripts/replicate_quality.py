"""Rule replicate_quality: every method of one replicate model scored as map_quality scores the dataset's model."""

from posthoc.rule import run_rule
from posthoc.stages.replicate_quality import run

run_rule(run, snakemake)  # noqa: F821
