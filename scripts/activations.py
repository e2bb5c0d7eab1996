"""Rule activations: what every explained layer does on the test split (records, filters, patches)."""

from posthoc.rule import run_rule
from posthoc.stages.activations import run

run_rule(run, snakemake)  # noqa: F821
