"""Rule report: the final self-contained HTML report."""
from posthoc.logs import log_to
from posthoc.stages import report


def main(results, config, out_html, speed_tables=()):
    return report.run(results, config, out_html, speed_tables)


if "snakemake" in globals():
    with log_to(snakemake.log[0]):
        main(snakemake.params.results, dict(snakemake.params.config), snakemake.output[0], list(snakemake.input.speed))
