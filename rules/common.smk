# Shared helpers: validated config, output paths, per-rule resources and the package modules
# each rule depends on (so that editing a module reruns exactly the rules that use it).
from pathlib import Path

from posthoc.config import validate_config

validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")

RESULTS = config["results"]
DATASETS = list(config["datasets"])
METHODS = list(config["methods"])
SPLITS = ["train", "val", "test"]
PACKAGE = Path(workflow.basedir) / "src" / "posthoc"


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),


def dataset_cfg(wildcards):
    return config["datasets"][wildcards.dataset]


def package(*modules):
    """Absolute paths of package modules, declared as inputs of the rules that import them."""
    return [str(PACKAGE / m) for m in modules]


CORE = ["__init__.py", "io.py", "logs.py", "stages/__init__.py"]
MODEL = ["models/__init__.py", "models/architectures.py", "models/checkpoint.py", "models/gap.py", "models/layers.py",
         "models/torchvision.py", "errors.py", "preprocess.py", "train.py"]
DATA_READ = ["data/__init__.py", "data/layout.py"]


def data_modules(wildcards):
    kind = dataset_cfg(wildcards)["data"]["kind"]
    return package(*CORE, *DATA_READ, f"data/{kind}.py", "stages/data.py")


# Method modules that import other method modules (editing gradcam.py reruns guided_gradcam too).
METHOD_DEPENDS = {"guided_gradcam": ["explain/gradcam.py"]}


def method_modules(wildcards):
    return package(*CORE, *DATA_READ, *MODEL, "plots.py", "explain/__init__.py", "explain/base.py",
                   f"explain/{wildcards.method}.py", *METHOD_DEPENDS.get(wildcards.method, []), "stages/explain.py")


def model_dir(wildcards):
    """CAM explains (and is scored on) the dataset's global-average-pooling variant (rule train_gap)."""
    return f"{RESULTS}/{wildcards.dataset}/" + ("model_gap" if wildcards.method == "cam" else "model")


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
