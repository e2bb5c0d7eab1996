"""Every gradient method against Captum on the study's own and on torchvision architectures.

Randomly initialised models (no download), float64, rectified and conv explained layers. The
torchvision models are tested as torchvision builds them (in-place ReLUs, a ReLU module reused
inside a block, residual additions, concatenations, ``torch.flatten``, functional ReLUs) and as
``models.build_model`` returns them (head resized, ReLUs out-of-place).
"""

import pytest
import torch
import torchvision
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Saliency,
)
from torch import nn

from posthoc.explain import explain
from posthoc.explain.base import capture
from posthoc.models import build_model, explainable_layers, gap_model
from references import Projection

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ARCHS = {  # name -> (input size, built by us?)
    "alexnet128": (64, True),
    "vgg7": (48, True),
    "vgg16": (32, True),
    "resnet18": (32, True),
    "resnet50": (32, True),
    "densenet121": (32, True),
    "resnet18_inplace": (32, False),
    "vgg16_inplace": (32, False),
    "densenet121_inplace": (32, False),
}


def close(ours, ref, nonzero=True):
    """Within 1e-5 relative to the reference's largest magnitude; ``nonzero=False`` allows an all-zero
    reference (a rectified map can be zero everywhere, e.g. a 1×1 deepest layer of a small input)."""
    scale = ref.abs().max().item()
    assert scale > 0 or not nonzero
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5 * scale)


def functional_relu(model):
    """DenseNet applies F.relu in its forward: our guided rule reaches it, Captum's GuidedBackprop (module
    hooks) does not, so Captum's guided reference is not the guided backprop of that model (measured: 8 %
    largest relative difference); Grad-CAM, saliency, IG and DeconvNet are still compared there."""
    return type(model).__name__ == "DenseNet"


def make(name):
    torch.manual_seed(0)
    size, ours = ARCHS[name]
    if ours:
        kw = {"width": 0.125} if name in ("alexnet128", "vgg7") else {}
        model = build_model(name, 3, 4, (size, size), **kw)
    else:
        model = torchvision.models.get_model(name.removesuffix("_inplace"), weights=None, num_classes=4)
        assert any(isinstance(m, nn.ReLU) and m.inplace for m in model.modules())
    model = model.double().eval()
    for m in model.modules():  # random BatchNorm statistics, so that eval-mode BN is not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    return model, x, torch.tensor([1, 3])


@pytest.fixture(params=list(ARCHS), scope="module")
def case(request):
    return make(request.param)


def up(ref, x):
    return LayerAttribution.interpolate(ref, tuple(x.shape[2:]), interpolate_mode="bilinear").squeeze(1)


@pytest.mark.parametrize("mode", ["rectified", "conv"])
def test_gradcam_and_guided_gradcam_every_layer(case, mode):
    model, x, target = case
    layers = explainable_layers(model, mode)
    gc = explain("gradcam", model, x, target, layers)
    ggc = explain("guided_gradcam", model, x, target, layers)
    for i, layer in enumerate(layers):
        module = model.get_submodule(layer)
        raw = LayerGradCam(model, module).attribute(x, target=target, relu_attributions=False)
        close(gc.raw[:, i], up(raw, x))  # before the ReLU: never all zero
        close(gc.maps[:, i], up(raw.clamp(min=0), x), nonzero=False)
        if not functional_relu(model):
            close(
                ggc.channels[:, i],
                GuidedGradCam(model, module).attribute(x, target=target, interpolate_mode="bilinear"),
                nonzero=False,
            )


def test_rectified_layers_are_relu_outputs_or_blocks(case):
    model, x, _ = case
    layers = explainable_layers(model, "rectified")
    with torch.no_grad(), capture(model, layers) as acts:
        model(x)
    if "denseblock" in layers[0]:  # a dense block's output concatenates its (unrectified) input: not checked
        return
    assert all((acts[name] >= 0).all() for name in layers)  # rectified: ReLU outputs (ResNet blocks end in one)
    assert all(isinstance(model.get_submodule(n), (nn.ReLU, nn.Sequential)) for n in layers)


def test_input_gradient_methods(case):
    model, x, target = case
    close(explain("saliency", model, x, target, []).channels[:, 0].abs(), Saliency(model).attribute(x, target=target))
    if not functional_relu(model):
        close(
            explain("guided_backprop", model, x, target, []).channels[:, 0],
            GuidedBackprop(model).attribute(x, target=target),
        )
    att = explain(
        "integrated_gradients", model, x, target, [], steps=8, step_rule="riemann_middle", internal_batch_size=None
    )
    ref = IntegratedGradients(model).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=8, method="riemann_middle"
    )
    close(att.channels[:, 0], ref)


def test_deconvnet_last_layer(case):
    model, x, target = case
    layer = explainable_layers(model)[-1]
    att = explain("deconvnet", model, x, target, [layer])
    close(att.channels[:, 0], Deconvolution(Projection(model, layer)).attribute(x, target=0))


def test_cam_on_frozen_features_equals_captum_gradcam(case):
    model, x, target = case
    layer = explainable_layers(model)[-1]
    gap = gap_model(model, layer, 3, tuple(x.shape[2:]), 4).double().eval()
    torch.nn.init.normal_(gap.head.weight)
    with torch.no_grad():
        assert torch.equal(gap.trunk(x), _layer_output(model, layer, x))  # the trunk is the model's own features
    att = explain("cam", gap, x, target, [])
    positions = gap.trunk(x)[0, 0].numel()
    ref = LayerGradCam(gap, gap.trunk).attribute(x, target=target, relu_attributions=False)
    close(att.raw[:, 0] / positions, up(ref, x))


def _layer_output(model, layer, x):
    with capture(model, [layer]) as acts:
        model(x)
    return acts[layer]
