"""Receptive-field arithmetic equals the support of the input gradient; crops are exact."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from posthoc.features.receptive import crop, receptive_field
from posthoc.models import AlexNet128, CNN1D


def _linearised(model: nn.Module) -> nn.Module:
    """Same windows, but positive weights, average pooling and no ReLU: every input in the field counts."""
    model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        leaf = name.rpartition(".")[2]
        if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d)):
            avg = nn.AvgPool1d if isinstance(module, nn.MaxPool1d) else nn.AvgPool2d
            setattr(parent, leaf, avg(module.kernel_size, module.stride, module.padding, count_include_pad=True))
        elif isinstance(module, nn.ReLU):
            setattr(parent, leaf, nn.Identity())
        elif isinstance(module, (nn.Conv1d, nn.Conv2d)):
            with torch.no_grad():
                module.weight.copy_(module.weight.abs() + 0.01)
                module.bias.zero_()
    return model


def _support_box(model, layer, x, position, channel=0):
    x = x.clone().requires_grad_(True)
    store = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    model(x)
    handle.remove()
    store["a"][(0, channel, *position)].backward()
    nz = np.argwhere(x.grad[0].abs().sum(0).numpy() > 0)
    return nz.min(0), nz.max(0) + 1, len(nz)


@pytest.mark.parametrize("arch", ["alexnet", "cnn1d", "stack"])
def test_receptive_field_is_the_input_gradient_support(arch):
    torch.manual_seed(0)
    if arch == "alexnet":
        model, x = AlexNet128(3, 4, width=0.05), torch.rand(1, 3, 256, 256)
    elif arch == "cnn1d":
        model, x = CNN1D(1, 4, length=40, channels=(3, 3, 3), kernel_size=5), torch.rand(1, 1, 40)
    else:
        model = nn.Sequential(
            nn.Conv2d(2, 3, 3, stride=2, padding=0, dilation=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(3, 3, (5, 3), stride=(1, 2), padding=(2, 1)),
        )
        x = torch.rand(1, 2, 45, 51)
    linear = _linearised(model)
    ndim = x.ndim - 2
    layers = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d))]
    checked = 0
    interior_checked = []
    for layer in layers:
        field = receptive_field(model, layer, ndim)
        out_shape = model.get_submodule(layer)
        store = {}
        h = out_shape.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
        model(x)
        h.remove()
        spatial = store["a"].shape[2:]
        for position in {tuple(0 for _ in spatial), tuple(s // 2 for s in spatial), tuple(s - 1 for s in spatial)}:
            lo, hi, count = _support_box(linear, layer, x, position)
            start, stop = field.box(position)
            size = np.asarray(x.shape[2:])
            interior = (start >= 0).all() and (stop <= size).all()
            if interior:  # away from the borders the field is exactly the support
                np.testing.assert_array_equal(lo, start, err_msg=f"{layer} {position}")
                np.testing.assert_array_equal(hi, stop, err_msg=f"{layer} {position}")
                assert count == np.prod(hi - lo) or arch == "stack"  # the whole box (dilation leaves holes)
                interior_checked.append(layer)
            else:  # at a border, inner layers' zero padding hides part of the field: support inside it
                assert (lo >= np.clip(start, 0, size)).all() and (hi <= np.clip(stop, 0, size)).all()
            # the real (max-pooling, ReLU) model never reaches outside the field
            lo_r, hi_r, _ = (
                _support_box(model, layer, x, position) if _has_grad(model, layer, x, position) else (lo, hi, 0)
            )
            assert (lo_r >= lo).all() and (hi_r <= hi).all()
            checked += 1
    assert checked >= len(layers) and set(interior_checked) == set(layers)


def _has_grad(model, layer, x, position):
    x = x.clone().requires_grad_(True)
    store = {}
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    model(x)
    h.remove()
    (g,) = torch.autograd.grad(store["a"][(0, 0, *position)], x)
    return bool(g.abs().sum() > 0)


def test_crop_matches_slicing_and_fills_outside():
    rng = np.random.default_rng(0)
    x = rng.random((3, 2, 10, 12)).astype(np.float32)
    model = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, padding=1))
    field = receptive_field(model, "2", 2)
    assert field.size == (8, 8) and field.jump == (2, 2) and field.pad == (3, 3)
    positions = np.array([[2, 3], [0, 0], [4, 5]])
    patches = crop(x, field, positions)
    assert patches.shape == (3, 2, 8, 8)
    np.testing.assert_array_equal(patches[0], x[0, :, 1:9, 3:11])
    assert np.isnan(patches[1][:, :3]).all() and np.isnan(patches[1][:, :, :3]).all()
    np.testing.assert_array_equal(patches[1][:, 3:, 3:], x[1, :, :5, :5])


def test_unknown_window_module_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(2), nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d"):
        receptive_field(model, "2", 2)
