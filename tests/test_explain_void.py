"""Maps stay finite — zeros, not NaN — for a model whose maps are identically zero (seed 000 Fig 30)."""

import pytest
import torch

from posthoc.explain import explain
from posthoc.models import AlexNet128, CNN1D, explainable_layers

GRADIENT_FAMILY = [
    "gradcam",
    "saliency",
    "guided_backprop",
    "guided_gradcam",
    "deconvnet",
    "cam",
    "integrated_gradients",
]


def zeroed(model):
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    return model.eval()


@pytest.mark.parametrize("method", GRADIENT_FAMILY)
@pytest.mark.parametrize("kind", ["alexnet", "cnn1d"])
def test_zero_model_gives_finite_zero_maps(method, kind):
    gap = method == "cam"
    if kind == "alexnet":
        model, x = zeroed(AlexNet128(3, 4, width=0.1, gap=gap)), torch.randn(3, 3, 48, 48)
    else:
        model, x = zeroed(CNN1D(1, 4, 30, channels=(4, 4), gap=gap)), torch.randn(3, 1, 30)
    att = explain(method, model, x, torch.tensor([0, 1, 3]), explainable_layers(model))
    for t in [att.maps, att.raw, att.channels, *att.extras.values()]:
        if t is not None:
            assert torch.isfinite(t).all()
    assert (att.maps == 0).all()


@pytest.mark.parametrize("method", GRADIENT_FAMILY)
def test_zero_input_gives_finite_maps(method):
    torch.manual_seed(0)
    model = AlexNet128(3, 4, width=0.1, gap=method == "cam").eval()
    att = explain(method, model, torch.zeros(2, 3, 48, 48), torch.tensor([0, 1]), explainable_layers(model))
    assert torch.isfinite(att.maps).all() and all(torch.isfinite(v).all() for v in att.extras.values())
