"""Explanation methods: one verb, batched, for 1-D and 2-D models.

``explain(method, model, x, target, layers)`` returns an :class:`Attribution` whose ``maps`` have
shape (N, n_layers, *input spatial shape). Methods without layers return ``layers == ["input"]``.
``METHODS`` maps each method's name to its traits (:class:`registry.Method`), collected from the
``METHOD`` each method module declares. This package never loads data or draws; see
``posthoc.stages`` for that.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Sequence

import torch
from torch import nn

from .base import Attribution, out_of_place_relus
from .registry import Method, declared

#: every method module of this package that declares ``METHOD`` (found by :func:`registry.declared`)
METHODS: dict[str, Method] = {name: importlib.import_module(f"{__name__}.{name}").METHOD for name in declared()}


def explain(
    method: str,
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[str],
    *,
    task: str | None = None,
    **params,
) -> Attribution:
    """Run one method on a batch; ``target`` holds one class (or label) index per image.

    ``task`` (a :mod:`posthoc.tasks` name; ``None``: multi-class) reaches the methods that score the target's
    probability themselves (a ``task`` keyword: occlusion, LIME — softmax, or the label's sigmoid); the
    others explain the target's logit and need none.
    """
    try:
        fn = METHODS[method].fn
    except KeyError:
        raise ValueError(f"unknown explanation method {method!r}; available: {sorted(METHODS)}") from None
    if "task" in inspect.signature(fn).parameters:
        params["task"] = task
    with out_of_place_relus(model):
        return fn(model, x, torch.as_tensor(target, dtype=torch.long), layers, **params)


__all__ = ["Attribution", "METHODS", "Method", "explain"]
