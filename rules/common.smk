# Shared helpers: validated config, output paths, per-rule resources, the code each rule runs (so that
# editing a module reruns exactly the rules that use it) and the captions of `snakemake --report`.
import re
from pathlib import Path

from posthoc.config import validate_config
from posthoc.io import is_torchscript
from posthoc.dependencies import content_hash, script_modules
from posthoc.explain.registry import EXPLAINED_MODELS, declared
from posthoc.report.builder import read_speed_tables
from posthoc.report.captions import caption_for, load_captions

validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")

RESULTS = config["results"]
DATASETS = list(config["datasets"])
METHODS = list(config["methods"])
# Datasets whose config names an existing model (model.checkpoint) get it from rule import_model, not train.
IMPORTED = [d for d in DATASETS if config["datasets"][d]["model"].get("checkpoint")]
TRAINED = [d for d in DATASETS if d not in IMPORTED]
# A TorchScript model.checkpoint cannot have its inner layers captured: those datasets skip the stages that read
# layers (occlusion study, robustness, activations/features, map quality).
SCRIPTED = [d for d in IMPORTED if is_torchscript(config["datasets"][d]["model"]["checkpoint"])]
LAYERED = [d for d in DATASETS if d not in SCRIPTED]
SPLITS = ["train", "val", "test"]
REGISTRY = declared()  # every explanation method's traits (posthoc.explain.registry), read without torch
TRAITS = {m: REGISTRY[m] for m in METHODS}
CAPTIONS = load_captions(Path(workflow.basedir) / "captions")


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),
    replicate="[1-9][0-9]*",


def one_of(names):
    """A wildcard pattern matching exactly ``names`` (none: a pattern that matches nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def dataset_cfg(wildcards):
    return config["datasets"][wildcards.dataset]


def code(script, *modules):
    """Content hash of the package files rule script ``script`` runs (plus ``modules`` it runs by name).

    A params entry named `code`, which run_rule leaves out of the stage's arguments. Snakemake reruns a job
    whose params changed, so editing a module reruns exactly its users, and since no path is recorded,
    moving or re-cloning the checkout reruns nothing. The script itself is tracked by Snakemake.
    """
    path = Path(workflow.basedir) / "scripts" / f"{script}.py"
    return content_hash(*script_modules(path), *modules)


def params_of(dataset, method):
    """A method's settings for one dataset: methods.<method>, plus the keys its registry entry takes from
    the dataset's own section (``dataset_params``, e.g. occlusion windows in that dataset's units)."""
    params = dict(config["methods"][method])
    own = config["datasets"][dataset].get(method, {})
    params.update({key: own[key] for key in TRAITS[method].dataset_params})
    return params


def method_params(wildcards):
    return params_of(wildcards.dataset, wildcards.method)


def data_code(wildcards):
    return code("prepare_data", f"data.{dataset_cfg(wildcards)['data']['kind']}")  # kinds are imported by name


def method_code(wildcards):
    return code("explain", f"explain.{wildcards.method}")  # methods are run by name


def model_dir(wildcards):
    """The model folder a method explains (and is scored on): its registry trait `explains`."""
    return f"{RESULTS}/{wildcards.dataset}/{TRAITS[wildcards.method].explains}"


def methods_explaining(model):
    return [m for m in METHODS if TRAITS[m].explains == model]


# Replicate models (config replicates): replicate 0 is the dataset's model, 1 .. N - 1 are extra jobs; they and
# the data-randomisation model (map_quality.sanity.data_randomisation) are scored with the methods that explain
# the dataset's own model.
REPLICATES = [str(r) for r in range(1, config["replicates"])]
DATA_RANDOMISATION = config["map_quality"]["sanity"]["data_randomisation"]
MODEL_METHODS = methods_explaining("model")


def model_methods_params(wildcards):
    """{method: settings} of every method that explains the dataset's own model."""
    return {m: params_of(wildcards.dataset, m) for m in MODEL_METHODS}


def model_methods_code(script):
    return code(script, *[f"explain.{m}" for m in MODEL_METHODS])  # methods are run by name


def data_randomisation_input(wildcards):
    """The data-randomisation similarities when map_quality.sanity.data_randomisation is on, else nothing."""
    return f"{RESULTS}/{wildcards.dataset}/data_randomisation/similarity.npz" if DATA_RANDOMISATION else []


def split_arrays(split="{split}"):
    return [f"{RESULTS}/{{dataset}}/data/{split}_images.npy", f"{RESULTS}/{{dataset}}/data/{split}_labels.npy"]


def resources_for(group):
    """Resources of a rule group from config, falling back to resources.default."""
    merged = dict(config["resources"].get("default", {}))
    merged.update(config["resources"].get(group, {}))
    if not merged.get("gpu"):
        merged.pop("gpu", None)  # request a GPU only where a rule benefits from one
    return merged


def log_path(rule_name, wildcard="{dataset}"):
    return f"{RESULTS}/logs/{wildcard}/{rule_name}.log"


def benchmark_path(rule_name, wildcard="{dataset}"):
    """Per-job runtime and memory (Snakemake's benchmark TSV), shown in the report's header."""
    return f"{RESULTS}/benchmarks/{wildcard}/{rule_name}.tsv"


# --- captions of `snakemake --report`: the same text as results/report.html (captions/<stage>.yaml and
# each method's registry caption), one small .rst per output written when the workflow is parsed.
CAPTION_DIR = Path(".snakemake", "captions").resolve()


def _rst(text):
    """Caption text as literal reStructuredText (no markup characters interpreted)."""
    for char in "\\*|`_":
        text = text.replace(char, f"\\{char}")
    return text


def caption(stage, stem):
    """Path of the .rst caption of ``results/{dataset}/<stage>/<stem>.*`` (stem ``{method}``: per method)."""
    if stem == "{method}":
        branches = [
            f'{{% {"if" if i == 0 else "elif"} snakemake.wildcards.method == "{m}" %}}'
            f"\n{_rst(caption_for(CAPTIONS, stage, m))}\n"
            for i, m in enumerate(METHODS)
        ]
        text = "".join(branches) + "{% endif %}\n"
    else:
        text = _rst(caption_for(CAPTIONS, stage, stem)) + "\n"
    path = CAPTION_DIR / f"{stage}.{stem.strip('{}')}.rst"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return str(path)


def reported(path, stage, stem, category, table=None):
    """An output shown by `snakemake --report`, with its caption; a CSV ``table`` gets its own label."""
    labels = {"dataset": "{dataset}", "table": table} if table else None
    return report(path, caption=caption(stage, stem), category=category, subcategory="{dataset}", labels=labels)


# --- inputs and outputs of particular rules
def model_files(wildcards):
    """The user's weights to start from (model.weights) or model to explain (model.checkpoint), if any."""
    model = dataset_cfg(wildcards)["model"]
    return [model[k] for k in ("weights", "checkpoint") if model.get(k)]


def gap_trained(wildcards):
    frozen = dataset_cfg(wildcards)["model"]["cam_model"] == "frozen"
    return f"{RESULTS}/{wildcards.dataset}/model/checkpoint.pt" if frozen else []


def feature_figure(stage, name):
    return reported(f"{RESULTS}/{{dataset}}/{stage}/{name}.png", stage, name, "What the network learned")


def map_quality_code(wildcards):
    """The stage's modules and the method's own (its maps are recomputed under randomised models)."""
    return code("map_quality", f"explain.{wildcards.method}")


def map_quality_output(name, table=None):
    stem = name.rsplit(".", 1)[0]
    return reported(f"{RESULTS}/{{dataset}}/map_quality/{name}", "map_quality", stem, "Map quality", table=table)
