"""Rule prepare_data: build one dataset in the common layout."""
from pathlib import Path

from posthoc.logs import log_to
from posthoc.stages import data


def main(name, spec, outdir, seed):
    return data.run(name, spec, outdir, seed)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(snakemake.wildcards.dataset, dict(snakemake.params.spec), str(Path(snakemake.output.meta).parent),
             snakemake.params.seed)
