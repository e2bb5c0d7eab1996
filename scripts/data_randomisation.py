"""Rule data_randomisation: each method's maps on the shuffled-label model against its original maps."""

from posthoc.rule import run_rule
from posthoc.stages.data_randomisation import run

run_rule(run, snakemake)  # noqa: F821
