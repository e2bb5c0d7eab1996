"""Rule map_quality: localisation, sanity checks, deletion/insertion and drop/increase per image of one method."""

from posthoc.rule import run_rule
from posthoc.stages.map_quality import run

run_rule(run, snakemake)  # noqa: F821
