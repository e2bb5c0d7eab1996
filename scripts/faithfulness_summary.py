"""Rule faithfulness_summary: one figure of every method's drop and increase rates."""
from posthoc.logs import log_to
from posthoc.stages import faithfulness


def main(tables, out_png):
    return faithfulness.summary(tables, out_png)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(list(snakemake.input.tables), snakemake.output[0])
