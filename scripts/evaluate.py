"""Rule evaluate: per-class accuracy, confusion, ROC and precision/recall/F1 on the test split."""
from pathlib import Path

from posthoc.logs import log_to, set_threads
from posthoc.stages import evaluate


def main(data_dir, checkpoint, predictions, per_class, confusion_csv, confusion_png, roc_png, roc_auc, report,
         device="auto"):
    return evaluate.run(data_dir, checkpoint, predictions, per_class, confusion_csv, confusion_png, roc_png,
                        roc_auc, report, device)


if "snakemake" in globals():
    out = snakemake.output
    with log_to(snakemake.log[0]):
        set_threads(snakemake.threads)
        main(str(Path(snakemake.input.meta).parent), snakemake.input.checkpoint, out.predictions, out.per_class,
             out.confusion_csv, out.confusion_png, out.roc_png, out.roc_auc, out.report, snakemake.params.device)
