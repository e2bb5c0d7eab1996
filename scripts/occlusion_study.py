"""Rule occlusion_study: the five-panel figures and the window/stride sweep of one dataset."""
from pathlib import Path

from posthoc.logs import log_to, set_threads
from posthoc.stages import occlusion


def main(data_dir, checkpoint, predictions, study, method, windows, seed, out_correct, out_wrong, out_csv,
         device="auto"):
    return occlusion.run(data_dir, checkpoint, predictions, list(windows["sweep"]), method.get("fill", 0.0), method.get("batch_size", 256), study["n_eval"], study["position"],
                         seed, out_correct, out_wrong, out_csv, device)


if "snakemake" in globals():
    i, p, o = snakemake.input, snakemake.params, snakemake.output
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(str(Path(i.meta).parent), i.checkpoint, i.predictions, dict(p.study), dict(p.method), dict(p.windows), p.seed, o.correct,
             o.wrong, o.sweep, p.device)
