"""DeconvNet as a gradient with the deconvnet ReLU rule equals the explicit unpool/ReLU/deconv network."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from posthoc.explain import explain
from posthoc.models import AlexNet128, CNN1D, explainable_layers


def explicit_deconvnet(features: nn.Sequential, x: torch.Tensor, top: int) -> torch.Tensor:
    """Seed 000 §4.1 literally: record switches, then from conv ``top``'s F⁺ go down with max-unpooling,
    ReLU and transposed convolutions using the trained weights (no biases)."""
    inputs, switches = [], {}
    for i, m in enumerate(features[: top + 1]):
        inputs.append(x)
        if isinstance(m, nn.MaxPool2d):
            x, switches[i] = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, return_indices=True)
        else:
            x = m(x)
    r = x.clamp(min=0)  # F⁺ of the conv layer `top`
    for i in range(top, -1, -1):
        m, size = features[i], inputs[i].shape
        if isinstance(m, nn.MaxPool2d):  # unpool: each value goes back to its switch (summed where windows overlap)
            r = (
                torch.zeros(size, dtype=r.dtype)
                .flatten(2)
                .scatter_add_(2, switches[i].flatten(2), r.flatten(2))
                .view(size)
            )
        elif isinstance(m, nn.ReLU):
            r = r.clamp(min=0)
        else:
            transpose = F.conv_transpose2d if isinstance(m, nn.Conv2d) else F.conv_transpose1d
            natural = transpose(r, m.weight, stride=m.stride, padding=m.padding)
            extra = [s - n for s, n in zip(size[2:], natural.shape[2:])]
            r = transpose(r, m.weight, stride=m.stride, padding=m.padding, output_padding=tuple(extra))
    return r


@pytest.mark.parametrize("kind", ["alexnet", "cnn1d"])
def test_gradient_form_equals_explicit_deconvnet(kind):
    torch.manual_seed(0)
    if kind == "alexnet":
        model, x = AlexNet128(3, 5, width=0.125), torch.randn(3, 3, 64, 64)
    else:
        model, x = CNN1D(1, 10, 40, channels=(8, 8, 8), stride=2), torch.randn(3, 1, 40)
    model, x = model.double().eval(), x.double()
    layers = explainable_layers(model)
    att = explain("deconvnet", model, x, torch.zeros(3, dtype=torch.long), layers)
    for i, layer in enumerate(layers):
        top = int(layer.split(".")[1])
        ref = explicit_deconvnet(model.features, x, top)
        assert ref.abs().max() > 0
        torch.testing.assert_close(att.channels[:, i], ref, rtol=1e-9, atol=1e-12 * ref.abs().max().item())


def test_projection_does_not_depend_on_target():
    model = CNN1D(1, 4, 30, channels=(4, 4)).eval()
    x = torch.randn(2, 1, 30)
    a = explain("deconvnet", model, x, torch.tensor([0, 1]), explainable_layers(model)).maps
    b = explain("deconvnet", model, x, torch.tensor([3, 2]), explainable_layers(model)).maps
    torch.testing.assert_close(a, b)
