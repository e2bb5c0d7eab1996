"""Rule faithfulness: drop and increase rates of one method's maps, per layer."""
from posthoc.logs import log_to, set_threads
from posthoc.stages import faithfulness


def main(checkpoint, explanations, method, keep_percent, fill, batch_size, out_csv, device="auto"):
    return faithfulness.run(checkpoint, explanations, method, keep_percent, fill, batch_size, out_csv, device)


if "snakemake" in globals():
    p = snakemake.params
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(snakemake.input.checkpoint, snakemake.input.maps, snakemake.wildcards.method, p.keep_percent, p.fill,
             p.batch_size, snakemake.output[0], p.device)
