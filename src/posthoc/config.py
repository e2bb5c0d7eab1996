"""Load and validate a study configuration against the JSON schema, filling in defaults.

Errors name the offending key as a dotted path (``datasets.mnist1d.train.epochs``) and say what
was expected, before any job runs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from posthoc.errors import UserError

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(UserError, ValueError):
    """The configuration does not match the schema; the message names the key."""


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        parts += extra[:1]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        parts += missing[:1]
    return ".".join(parts) or "<top level>"


def load_schema(path: str | Path = DEFAULT_SCHEMA) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def validate_config(config: dict, schema_path: str | Path = DEFAULT_SCHEMA) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it; raise ConfigError naming the key."""
    schema = load_schema(schema_path)
    cls = _with_defaults(jsonschema.validators.validator_for(schema))
    validator = cls(schema)
    # Fill defaults first (a failed validation may have filled some), then report the clearest error.
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), e.message))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        # Descend into if/then branches so the message names the innermost key.
        while error.context:
            error = jsonschema.exceptions.best_match(error.context)
        key = _key_path(error)
        raise ConfigError(
            f"invalid config at '{key}': {error.message}. See schemas/config.schema.yaml for the allowed values."
        )
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    """Rules a schema cannot express, including each dataset kind's own checks of its values."""
    from posthoc.data import check_spec

    results = Path(config["results"])
    if results.exists() and not results.is_dir():
        raise ConfigError(
            f"invalid config at 'results': {results} is a file, not a folder; "
            "give a folder for the outputs (it is created when absent)"
        )
    for name, ds in config["datasets"].items():
        try:
            check_spec(name, ds["data"])
        except ValueError as err:
            raise ConfigError(f"invalid config: {err}") from None
        if "occlusion" in config.get("methods", {}):
            _check_windows(name, ds)
        kind, arch = ds["data"]["kind"], ds["model"]["arch"]
        if (kind == "mnist1d") != (arch == "cnn1d"):
            raise ConfigError(
                f"invalid config at 'datasets.{name}.model.arch': {arch!r} does not fit "
                f"data.kind {kind!r} (1-D signals need 'cnn1d', images need 'alexnet128', 'vgg7' "
                f"or a torchvision model)"
            )
        _check_model(name, ds["model"])
        _check_torchscript(name, ds["model"], config.get("methods", {}))


def _check_torchscript(name: str, model: dict, methods: dict) -> None:
    """A TorchScript ``model.checkpoint`` is explained only by methods that work exactly on a compiled model
    (registry trait ``torchscript``); the stages that read inner layers are left out of its DAG."""
    from posthoc.explain.registry import declared
    from posthoc.io import is_torchscript

    existing = model.get("checkpoint")
    if not existing or not is_torchscript(existing):
        return
    registry = declared()
    unfit = [m for m in methods if m in registry and not registry[m].torchscript]
    if unfit:
        fit = sorted(m for m, traits in registry.items() if traits.torchscript)
        raise ConfigError(
            f"invalid config at 'datasets.{name}.model.checkpoint': {existing} is a TorchScript model, whose inner "
            f"layers and ReLUs {', '.join(unfit)} cannot reach; save the model's state dict instead "
            f"(torch.save(model.state_dict(), path)) and name its architecture in datasets.{name}.model.arch, or "
            f"explain it only with {', '.join(fit)}"
        )


def _check_model(name: str, model: dict) -> None:
    """An architecture that exists, options that fit it, and a weights file that is there."""
    from posthoc.models import ARCHITECTURES
    from posthoc.models.torchvision import names

    key, arch = f"datasets.{name}.model", model["arch"]
    own = arch in ARCHITECTURES
    if not own and arch not in names():
        raise ConfigError(
            f"invalid config at '{key}.arch': unknown architecture {arch!r}; use one of "
            f"{sorted(ARCHITECTURES)} or a torchvision classification model name (e.g. resnet18)"
        )
    if own and model.get("weights"):
        raise ConfigError(
            f"invalid config at '{key}.weights': {arch!r} is trained from scratch; weights files are "
            f"for torchvision architectures"
        )
    if not own and model.get("cam_model") == "scratch":
        raise ConfigError(
            f"invalid config at '{key}.cam_model': 'scratch' needs one of {sorted(ARCHITECTURES)}; "
            f"use 'frozen' for torchvision's {arch}"
        )
    existing = model.get("checkpoint")
    if existing and not Path(existing).is_file():
        raise ConfigError(
            f"invalid config at '{key}.checkpoint': {existing} does not exist; put the state dict of "
            f"your trained {arch} there (or remove the key to train one)"
        )
    if existing and model.get("weights"):
        raise ConfigError(
            f"invalid config at '{key}': give either weights (to train from) or checkpoint (to explain "
            f"as it is), not both"
        )
    weights = model.get("weights")
    if weights and not Path(weights).is_file():
        raise ConfigError(
            f"invalid config at '{key}.weights': {weights} does not exist; download the ImageNet "
            f"state dict of torchvision's {arch} (see the README, 'Pretrained weights') and put it "
            f"there"
        )


def _check_windows(name: str, ds: dict) -> None:
    """Occlusion windows are in the dataset's own units and must be smaller than its input (a window as large as
    the input hides everything: every window position gives the same, meaningless, probability)."""
    from posthoc.data import input_size

    size = input_size(name, ds["data"])
    unit = "samples" if ds["data"]["kind"] == "mnist1d" else "pixels"
    occ = ds["occlusion"]
    windows = [("window", occ["window"])] + [(f"sweep[{i}].window", s["window"]) for i, s in enumerate(occ["sweep"])]
    for key, window in windows:
        if int(window) >= size:
            raise ConfigError(
                f"invalid config at 'datasets.{name}.occlusion.{key}': {window} is not smaller than the input "
                f"({size} {unit}); occlusion windows are in the dataset's own {unit}, set datasets.{name}.occlusion "
                f"(window, stride, sweep) for this input size"
            )


def load_config(path: str | Path, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    return validate_config(config, schema_path)
