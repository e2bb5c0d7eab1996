"""Rule eda: figures of the data and the normalisation statistics."""
from pathlib import Path

from posthoc.logs import log_to
from posthoc.stages import eda


def main(data_dir, out_stats, out_sample_batch, out_class_distribution, out_one_per_class):
    return eda.run(data_dir, out_stats, out_sample_batch, out_class_distribution, out_one_per_class)


if "snakemake" in globals():
    out = snakemake.output
    with log_to(snakemake.log[0]):
        main(str(Path(snakemake.input.meta).parent), out.stats, out.sample_batch, out.class_distribution,
             out.one_per_class)
