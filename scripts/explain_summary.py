"""Rule explain_summary: figures across every method of one dataset (comparison, per class, confusions)
and, when integrated gradients is in the study, its completeness gaps per subset."""
from posthoc.logs import log_to
from posthoc.stages import explain_summary


def main(explanations, predictions, meta, stats, out_comparison, out_per_class, out_confusions,
         ig_params=None, out_completeness=None):
    explain_summary.figures(explanations, predictions, meta, stats, out_comparison, out_per_class, out_confusions)
    if out_completeness:
        explain_summary.completeness(explanations["integrated_gradients"], ig_params or {}, out_completeness)


if "snakemake" in globals():
    i, o = snakemake.input, snakemake.output
    with log_to(snakemake.log[0]):
        main(dict(zip(snakemake.params.methods, i.maps)), i.predictions, i.meta, i.stats, o.comparison, o.per_class,
             o.confusions, dict(snakemake.params.ig_params), o.get("completeness"))
