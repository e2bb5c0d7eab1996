"""Rule robustness: predictions and Grad-CAM stability under noise, brightness and contrast."""
from pathlib import Path

from posthoc.logs import log_to, set_threads
from posthoc.stages import robustness


def main(data_dir, checkpoint, predictions, study, seed, out_figures, out_csv, device="auto"):
    levels = {kind: list(values) for kind, values in study["levels"].items()}
    figures = dict(zip(levels, out_figures))  # one figure per degradation, in config order
    return robustness.run(data_dir, checkpoint, predictions, levels, study["n_eval"], study["batch_size"], seed,
                          figures, out_csv, device)


if "snakemake" in globals():
    i, p, o = snakemake.input, snakemake.params, snakemake.output
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(str(Path(i.meta).parent), i.checkpoint, i.predictions, dict(p.study), p.seed, list(o.figures), o.table,
             p.device)
