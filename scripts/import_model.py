"""Rule import_model: validate an existing model (model.checkpoint), write it as the dataset's checkpoint, score it."""

from posthoc.rule import run_rule
from posthoc.stages.import_model import run

run_rule(run, snakemake)  # noqa: F821
