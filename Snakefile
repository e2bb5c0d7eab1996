# posthoc — a post-hoc explainability study of CNNs, from datasets to one report.
#
#   snakemake --cores all                               # the default study (config.yaml)
#   snakemake --cores all --configfile configs/paper.yaml   # replaces config.yaml entirely
#
# Table of contents: each stage lives in rules/<stage>.smk; every computation lives in the
# posthoc package (src/posthoc), which the rule scripts in scripts/ call.

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The workflow runs the posthoc package of its own checkout (also in its jobs' scripts), whatever copy
# of the package the environment has installed.
SOURCE = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SOURCE)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (SOURCE, os.environ.get("PYTHONPATH")) if p))

if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/eda.smk"
include: "rules/train.smk"
include: "rules/explain.smk"
include: "rules/metrics.smk"
include: "rules/perturbation.smk"
include: "rules/robustness.smk"
include: "rules/features.smk"
include: "rules/map_quality.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        f"{RESULTS}/report.html",
