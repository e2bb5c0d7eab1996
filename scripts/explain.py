"""Rule explain: one method, one dataset, every layer, batched."""
from pathlib import Path

from posthoc.logs import log_to, set_threads
from posthoc.stages import explain


def main(data_dir, checkpoint, predictions, method, method_params, n_eval, batch_size, seed, out_npz, out_figure,
         device="auto", n_confusions=4):
    return explain.run(data_dir, checkpoint, predictions, method, method_params, n_eval, batch_size, seed,
                       out_npz, out_figure, device, n_confusions)


if "snakemake" in globals():
    i, p = snakemake.input, snakemake.params
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(str(Path(i.meta).parent), i.checkpoint, i.predictions, snakemake.wildcards.method, dict(p.method_params),
             p.n_eval, p.batch_size, p.seed, snakemake.output.maps, snakemake.output.figure, p.device, p.n_confusions)
