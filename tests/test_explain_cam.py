"""CAM on the global-average-pooling models, and its equality with Grad-CAM there (seeds 002, 003)."""

import pytest
import torch

from posthoc.explain import explain
from posthoc.models import AlexNet128, CNN1D, build_model, explainable_layers


@pytest.mark.parametrize("kind", ["alexnet", "cnn1d"])
def test_gradcam_equals_cam_up_to_a_positive_scale(kind):
    torch.manual_seed(0)
    if kind == "alexnet":
        model, x = AlexNet128(3, 6, width=0.125, gap=True), torch.randn(4, 3, 64, 64)
    else:
        model, x = CNN1D(1, 10, 40, channels=(8, 8), gap=True), torch.randn(4, 1, 40)
    model, x = model.double().eval(), x.double()
    target = torch.tensor([0, 3, 5, 1])
    cam = explain("cam", model, x, target, explainable_layers(model))
    assert cam.layers == ["features"] and cam.maps.shape == (4, 1, *x.shape[2:])
    grad = explain("gradcam", model, x, target, ["features"])
    scale = model.features(x)[0, 0].numel()  # Grad-CAM = CAM / number of positions
    torch.testing.assert_close(grad.raw * scale, cam.raw, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad.maps * scale, cam.maps, rtol=1e-10, atol=1e-12)
    assert cam.maps.max() > 0


def test_gap_models_keep_the_last_conv_resolution():
    alex = AlexNet128(3, 4, width=0.25, gap=True)
    assert alex.features(torch.zeros(1, 3, 128, 128)).shape[2:] == (15, 15)
    assert alex(torch.zeros(2, 3, 64, 64)).shape == (2, 4)
    assert explainable_layers(alex) == explainable_layers(AlexNet128(3, 4, width=0.25))
    cnn = build_model("cnn1d", 1, 10, (40,), channels=[8, 8], gap=True)
    assert cnn.head.in_features == 8 and cnn(torch.zeros(2, 1, 40)).shape == (2, 10)


def test_cam_refuses_a_model_without_gap():
    with pytest.raises(ValueError, match="global-average-pooling model"):
        explain("cam", CNN1D(1, 3, 20, channels=(4,)), torch.zeros(1, 1, 20), torch.tensor([0]), [])
