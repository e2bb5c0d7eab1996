"""Rule explain: one method, one dataset, every layer, batched."""

from posthoc.rule import run_rule
from posthoc.stages.explain import run

run_rule(run, snakemake)  # noqa: F821
