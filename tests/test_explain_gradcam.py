"""Grad-CAM against Captum's LayerGradCam, for every layer, on 2-D and 1-D models."""

import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam

from posthoc.explain import explain
from posthoc.explain.base import capture
from posthoc.models import AlexNet128, CNN1D, explainable_layers


def captum_gradcam(model, x, target, layer, size):
    ref = LayerGradCam(model, model.get_submodule(layer)).attribute(x, target=target, relu_attributions=True)
    mode = "bilinear" if len(size) == 2 else "linear"
    return LayerAttribution.interpolate(ref, size, interpolate_mode=mode).squeeze(1)


@pytest.mark.parametrize("kind", ["alexnet", "cnn1d"])
def test_gradcam_equals_captum_on_every_layer(kind):
    torch.manual_seed(0)
    if kind == "alexnet":
        model, x = AlexNet128(3, 6, width=0.125), torch.randn(5, 3, 64, 64)
    else:
        model, x = CNN1D(1, 10, 40, channels=(8, 8, 8)), torch.randn(5, 1, 40)
    model = model.double().eval()
    x = x.double()
    target = torch.tensor([0, 1, 2, 3, 4])
    layers = explainable_layers(model)
    att = explain("gradcam", model, x, target, layers)
    assert att.maps.shape == (5, len(layers), *x.shape[2:])
    assert att.layers == layers
    for i, layer in enumerate(layers):
        ref = captum_gradcam(model, x, target, layer, tuple(x.shape[2:]))
        assert ref.abs().max() > 0
        torch.testing.assert_close(att.maps[:, i], ref, rtol=1e-5, atol=1e-12 * ref.abs().max().item())


def test_all_layers_from_one_forward_pass():
    model = AlexNet128(3, 4, width=0.1).eval()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    explain("gradcam", model, torch.randn(3, 3, 48, 48), torch.tensor([0, 1, 2]), explainable_layers(model))
    assert len(calls) == 1


def test_void_model_gives_finite_zero_maps():
    model = AlexNet128(3, 4, width=0.1).eval()
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    att = explain("gradcam", model, torch.randn(2, 3, 48, 48), torch.tensor([0, 1]), explainable_layers(model))
    assert torch.isfinite(att.maps).all() and (att.maps == 0).all()


def test_capture_records_outputs_and_leaves_the_model_untouched():
    model = CNN1D(1, 3, 20, channels=(4, 4))
    x = torch.randn(2, 1, 20)
    with capture(model, ["features.0", "features.2"]) as outer:
        with capture(model, ["features.2"]) as inner:  # nested blocks on the same module
            model(x)
        assert "forward" in model.features[2].__dict__  # the outer wrapper is back in place
        model(x + 1)
    assert torch.equal(inner["features.2"], model.features[:3](x))
    assert torch.equal(outer["features.0"], model.features[0](x + 1))
    assert torch.equal(outer["features.2"], model.features[:3](x + 1))
    for module in model.modules():
        assert "forward" not in module.__dict__ and not module._forward_hooks


def test_capture_records_what_the_module_call_returns_after_other_hooks():
    model = CNN1D(1, 3, 20, channels=(4,))
    handle = model.features[0].register_forward_hook(lambda m, i, out: out * 2)
    x = torch.randn(2, 1, 20)
    try:
        with capture(model, ["features.0"]) as acts:
            model(x)
        assert len(model.features[0]._forward_hooks) == 1  # ours is gone, theirs stays
    finally:
        handle.remove()
    torch.testing.assert_close(acts["features.0"], 2 * model.features[0](x))


def test_capture_restores_the_model_when_the_forward_raises():
    model = CNN1D(1, 3, 20, channels=(4,))
    with pytest.raises(RuntimeError):
        with capture(model, ["features.0"]):
            model(torch.randn(1, 2, 20))  # wrong channel count
    assert "forward" not in model.features[0].__dict__


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown explanation method 'nope'"):
        explain("nope", CNN1D(1, 3, 20, channels=(4,)), torch.zeros(1, 1, 20), torch.tensor([0]), [])
