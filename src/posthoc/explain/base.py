"""Hook plumbing shared by every explanation method, written once.

* :func:`capture` records the outputs of several layers during one forward pass, keeping them in
  the autograd graph so that one backward pass yields the gradients of all of them.
* :func:`target_scores` sums the chosen logit of every image: since images of a batch do not
  interact in eval mode, its gradient holds every image's own gradient. :func:`target_grad` is its
  gradient with respect to the logits (one-hot rows), to start that backward pass directly.
* :func:`upsample` brings layer-resolution maps to the input's spatial size (1-D or 2-D).
* :func:`relu_rule` swaps the backward rule of every ReLU of a model (modules *and* functional
  calls) for the block: ``"guided"`` (guided backpropagation), ``"deconvnet"`` (Zeiler & Fergus) or
  ``"gradient"`` (the ordinary one); the rule can change between backward passes of one forward.
* :func:`input_gradient` is the one forward + one backward that the input-gradient methods share.
* :func:`abs_max_channels` / :func:`sum_relu_channels` reduce (N, C, *s) attributions to maps.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode


@dataclass
class Attribution:
    """Maps at input resolution, float32, shape (N, n_layers, *spatial).

    ``maps`` are what is shown and scored; ``raw`` are the same maps before the final ReLU (for
    methods that apply one), kept so that metrics can rank positions the ReLU ties at zero.
    """

    maps: torch.Tensor
    layers: list[str]
    raw: torch.Tensor | None = None
    #: the attribution before the channel reduction, (N, n_layers, C, *spatial), where a method has one
    channels: torch.Tensor | None = None
    #: per-image diagnostics, each of shape (N,) (e.g. integrated gradients' completeness gap)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@contextlib.contextmanager
def capture(model: nn.Module, layers: Sequence[str], store=None) -> Iterator[dict[str, torch.Tensor]]:
    """Record the output of each named module (what its call returns) during the forward passes in
    the block; everything is undone on exit, also when the block raises, and blocks nest.

    ``store`` receives ``store[name] = output`` as each module returns (default: a new dict); an
    object of one's own can reduce the output right there, while it is still in cache, instead of
    keeping every layer's output until the forward pass ends.

    A module without forward hooks gets its ``forward`` wrapped for the duration of the block (an
    instance attribute) rather than a hook of ours: a hook sends every call of the module through
    ``nn.Module``'s slow path, which costs more than the whole Grad-CAM arithmetic on a small model.
    A module that already has forward hooks (which may change its output) gets one more, run last.
    """
    store = {} if store is None else store
    undo: list = []
    try:
        names = list(dict.fromkeys(layers))
        for name, module in zip(names, submodules(model, names)):
            if module._forward_hooks:
                handle = module.register_forward_hook(lambda _m, _i, out, name=name: store.__setitem__(name, out))
                undo.append(handle.remove)
                continue
            own = module.__dict__.get("forward")  # an enclosing block's wrapper, else None
            inner = module.forward

            def recording(*args, _inner=inner, _name=name, **kwargs):
                out = _inner(*args, **kwargs)
                store[_name] = out
                return out

            module.__dict__["forward"] = recording  # a plain attribute: nn.Module.__setattr__ is not needed
            undo.append(functools.partial(_restore_forward, module, own))
        yield store
    finally:
        for step in reversed(undo):
            step()


def _restore_forward(module: nn.Module, own) -> None:
    if own is None:
        del module.__dict__["forward"]
    else:
        module.__dict__["forward"] = own


def target_scores(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each image's logit for its target class (a scalar to differentiate)."""
    return logits.gather(1, target.view(-1, 1).to(logits.device)).sum()


def target_grad(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """∂(target_scores)/∂logits: the one-hot rows of the targets. Passed as ``grad_outputs`` with the
    logits it starts the same backward pass without recording the gather and the sum."""
    return torch.zeros_like(logits).scatter_(1, target.view(-1, 1).to(logits.device), 1.0)


def submodules(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    """``model.get_submodule(name)`` for each name, by a direct walk of the children (several times
    faster, which counts for small models); an unknown name gets ``get_submodule``'s error."""
    out = []
    for name in names:
        module = model
        try:
            for part in name.split("."):
                module = module._modules[part]
        except KeyError:
            module = None
        out.append(module if module is not None else model.get_submodule(name))  # its error names the part
    return out


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, *s) layer maps → (N, *size) by linear (1-D) or bilinear (2-D) interpolation."""
    mode = {1: "linear", 2: "bilinear"}[len(size)]
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode=mode, align_corners=False).squeeze(1)


def _channels_last_view(t: torch.Tensor) -> torch.Tensor | None:
    """(N, K, *s) → a (N, positions, K) view when ``t`` is stored channels-last, else None."""
    moved = t.movedim(1, -1)
    return moved.reshape(t.shape[0], -1, t.shape[1]) if moved.is_contiguous() and t.ndim > 3 else None


_SPATIAL_DIMS = {3: 2, 4: (2, 3), 5: (2, 3, 4)}


def spatial_sum(t: torch.Tensor) -> torch.Tensor:
    """(N, K, *s) → (N, K): sum over positions (one reduction, in whichever layout ``t`` has)."""
    return t.sum(dim=_SPATIAL_DIMS[t.ndim])


def channel_weighted_sum(a: torch.Tensor, w: torch.Tensor, flat: bool = False) -> torch.Tensor:
    """Σ_k w[n, k] · a[n, k, ...] for (N, K, *s) activations and (N, K) weights → (N, *s), as one
    batched matrix product read in place from ``a`` (standard or channels-last layout, no copy).
    ``flat=True`` returns it as (N, 1, positions) instead (a view, ready to concatenate)."""
    if a.is_contiguous():  # the common case first: the fewest operations for small models
        out = torch.bmm(w.unsqueeze(1), a.view(a.shape[0], a.shape[1], -1))
    else:
        view = _channels_last_view(a)
        out = (
            torch.bmm(view, w.unsqueeze(2)).transpose(1, 2)
            if view is not None
            else torch.bmm(w.unsqueeze(1), a.reshape(a.shape[0], a.shape[1], -1))
        )
    return out if flat else out.view(a.shape[0], *a.shape[2:])


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """The batch in the memory layout its convolutions run fastest in: channels-last for images on
    the CPU (oneDNN; about 20 % faster forward+backward for AlexNet-128), unchanged otherwise.
    Values are the same; only float rounding can differ."""
    if x.ndim == 4 and x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def upsample_layers(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, L, *s) → (N, L, *size): several maps per image in one call, as :func:`upsample`."""
    if tuple(maps.shape[2:]) == tuple(size):
        return maps
    mode = {1: "linear", 2: "bilinear"}[len(size)]
    return F.interpolate(maps, size=tuple(size), mode=mode, align_corners=False)


def spatial_dims(t: torch.Tensor) -> tuple[int, ...]:
    """The spatial dimensions of an (N, C, *spatial) tensor."""
    return tuple(range(2, t.ndim))


def abs_max_channels(a: torch.Tensor) -> torch.Tensor:
    """(N, C, *s) → (N, *s): largest absolute value over channels (seed 003's saliency display)."""
    return a.abs().amax(dim=1)


def sum_relu_channels(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, *s) → (map, raw): raw = sum over channels, map = ReLU(raw) (seed 004 §IV-B)."""
    raw = a.sum(dim=1)
    return raw.clamp(min=0), raw


# --- ReLU backward rules ------------------------------------------------------------------------


class ReLURule:
    """The backward rule of the ReLUs of one :func:`relu_rule` block; ``rule`` may be reassigned."""

    RULES = ("gradient", "guided", "deconvnet")

    def __init__(self, rule: str):
        self.rule = rule

    @property
    def rule(self) -> str:
        return self._rule

    @rule.setter
    def rule(self, value: str) -> None:
        if value not in self.RULES:
            raise ValueError(f"unknown ReLU rule {value!r}; choose one of {self.RULES}")
        self._rule = value


class _RuledReLU(torch.autograd.Function):
    """max(x, 0) forward; the backward rule is read from the block's :class:`ReLURule` when it runs.

    gradient: g·[out > 0]; guided: max(g, 0)·[out > 0] (Springenberg et al.); deconvnet: max(g, 0),
    whatever the forward sign (Zeiler & Fergus: the reconstruction itself goes through a ReLU).
    """

    @staticmethod
    def forward(ctx, x, state):
        out = torch.relu(x)
        ctx.save_for_backward(out)
        ctx.state = state
        return out

    @staticmethod
    def backward(ctx, grad):
        rule = ctx.state.rule
        if rule == "deconvnet":
            return grad.clamp_min(0), None
        (out,) = ctx.saved_tensors
        grad = torch.ops.aten.threshold_backward(grad, out, 0)  # grad · [out > 0], fused
        return (grad.clamp_min_(0) if rule == "guided" else grad), None


_RELU_FUNCTIONS = frozenset({F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_})


class _ReLUMode(TorchFunctionMode):
    """Intercepts every ReLU call (nn.ReLU goes through F.relu) and routes it through _RuledReLU.

    In-place variants return the out-of-place result (what nn.ReLU(inplace=True) and
    ``x = F.relu(x, inplace=True)`` use); the tensor passed in is left unchanged.
    """

    def __init__(self, state: ReLURule):
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCTIONS:
            return _RuledReLU.apply(args[0], self.state)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def relu_rule(rule: str = "guided") -> Iterator[ReLURule]:
    """Forward passes in the block use ReLUs whose backward follows ``rule`` (see :class:`ReLURule`).

    Works for ``nn.ReLU`` modules and for ``F.relu`` / ``torch.relu`` / ``Tensor.relu`` calls alike,
    for any batch size; nothing is left behind on the model or on torch once the block exits. The
    yielded :class:`ReLURule` can be switched between backward passes of the same graph.
    """
    state = ReLURule(rule)
    with _ReLUMode(state):
        yield state


# --- shared gradient passes ---------------------------------------------------------------------


def input_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor, rule: str = "gradient") -> torch.Tensor:
    """∂y_target/∂x for every image of the batch (one forward, one backward), under a ReLU rule."""
    with torch.enable_grad():
        x = fast_layout(x.detach()).requires_grad_(True)
        if rule == "gradient":
            logits = model(x)
        else:
            with relu_rule(rule):
                logits = model(x)
        (grad,) = torch.autograd.grad(logits, x, target_grad(logits, target))
    return grad


@contextlib.contextmanager
def out_of_place_relus(model: nn.Module):
    """Run ReLU modules out of place for the block: an in-place ReLU would overwrite the conv output that a
    layer-wise method recorded (torchvision models use ``inplace=True``); results are otherwise identical."""
    flipped = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in flipped:
        m.inplace = False
    try:
        yield
    finally:
        for m in flipped:
            m.inplace = True
