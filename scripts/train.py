"""Rule train: fit one dataset's model (resumes after an interruption)."""
from pathlib import Path

from posthoc.logs import log_to, set_threads
from posthoc.stages import train


def main(data_dir, stats, checkpoint, history, scores, curves, model, train_cfg, seed, device="auto", resume=None):
    return train.run(data_dir, stats, checkpoint, history, scores, curves, model, train_cfg, seed, device, resume)


if "snakemake" in globals():
    p, out = snakemake.params, snakemake.output
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(str(Path(snakemake.input.meta).parent), snakemake.input.stats, out.checkpoint, out.history, out.scores,
             out.curves, dict(p.model), dict(p.train), p.seed, p.device, p.resume)
