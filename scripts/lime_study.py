"""Rule lime_study: top-k superpixel figures of one dataset under several LIME settings."""
from pathlib import Path

from posthoc.logs import log_to, set_threads
from posthoc.stages import lime


def main(data_dir, checkpoint, predictions, study, method, seed, out_correct, out_wrong, out_csv, device="auto"):
    return lime.run(data_dir, checkpoint, predictions, method, list(study["settings"]), list(study["top_k"]),
                    study["n_examples"], seed, out_correct, out_wrong, out_csv, device)


if "snakemake" in globals():
    i, p, o = snakemake.input, snakemake.params, snakemake.output
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(str(Path(i.meta).parent), i.checkpoint, i.predictions, dict(p.study), dict(p.method), p.seed, o.correct,
             o.wrong, o.examples, p.device)
