"""Every gradient-family method against its Captum counterpart, on AlexNet-128 and the 1-D CNN.

Same model, same inputs, float64: the channel-resolved attributions (and the maps derived from
them) agree within 1e-5 relative. Grad-CAM itself is checked in test_explain_gradcam.py.
"""

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, GuidedGradCam, IntegratedGradients, LayerGradCam, Saliency

from posthoc.explain import explain
from posthoc.explain.integrated_gradients import STEP_RULES, make_baseline
from posthoc.models import AlexNet128, CNN1D, explainable_layers
from references import Projection

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Captum's notes about hooks and requires_grad


def close(ours, ref):
    """Within 1e-5 relative to the reference's largest magnitude (which must not be zero)."""
    scale = ref.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5 * scale)


@pytest.fixture(params=["alexnet", "cnn1d"])
def case(request):
    torch.manual_seed(0)
    if request.param == "alexnet":
        model, x = AlexNet128(3, 6, width=0.125), torch.randn(5, 3, 64, 64)
    else:
        model, x = CNN1D(1, 10, 40, channels=(8, 8, 8)), torch.randn(5, 1, 40)
    model = model.double().eval()
    return model, x.double(), torch.tensor([0, 1, 2, 3, 4]), explainable_layers(model)


def interpolation(x):
    return "bilinear" if x.ndim == 4 else "linear"


def test_saliency(case):
    model, x, target, _ = case
    att = explain("saliency", model, x, target, [])
    ref = Saliency(model).attribute(x, target=target, abs=True)
    assert att.layers == ["input"] and att.maps.shape == (5, 1, *x.shape[2:])
    close(att.channels[:, 0].abs(), ref)
    close(att.maps[:, 0], ref.amax(1))


def test_guided_backprop(case):
    model, x, target, _ = case
    att = explain("guided_backprop", model, x, target, [])
    ref = GuidedBackprop(model).attribute(x, target=target)
    close(att.channels[:, 0], ref)
    close(att.maps[:, 0], ref.abs().amax(1))
    plain = Saliency(model).attribute(x, target=target, abs=False)
    assert not torch.allclose(ref, plain)  # the rule really changed something


def test_guided_gradcam_every_layer(case):
    model, x, target, layers = case
    att = explain("guided_gradcam", model, x, target, layers)
    assert att.layers == layers and att.maps.shape == (5, len(layers), *x.shape[2:])
    for i, layer in enumerate(layers):
        ref = GuidedGradCam(model, model.get_submodule(layer)).attribute(
            x, target=target, interpolate_mode=interpolation(x)
        )
        close(att.channels[:, i], ref)
        close(att.maps[:, i], ref.abs().amax(1))


def test_deconvnet_every_layer(case):
    model, x, target, layers = case
    att = explain("deconvnet", model, x, target, layers)
    assert att.layers == layers and att.channels.shape == (5, len(layers), *x.shape[1:])
    for i, layer in enumerate(layers):
        ref = Deconvolution(Projection(model, layer)).attribute(x, target=0)
        close(att.channels[:, i], ref)
        close(att.maps[:, i], ref.abs().amax(1))


@pytest.mark.parametrize("method", STEP_RULES)
def test_integrated_gradients_every_step_rule(case, method):
    model, x, target, _ = case
    att = explain("integrated_gradients", model, x, target, [], steps=16, step_rule=method, internal_batch_size=None)
    ref, delta = IntegratedGradients(model).attribute(
        x, baselines=torch.zeros_like(x), target=target, n_steps=16, method=method, return_convergence_delta=True
    )
    close(att.channels[:, 0], ref)
    close(att.raw[:, 0], ref.sum(1))
    close(att.maps[:, 0], ref.sum(1).clamp(min=0))
    with torch.no_grad():
        f = model(x).gather(1, target.view(-1, 1)).squeeze(1) - model(torch.zeros_like(x)).gather(
            1, target.view(-1, 1)
        ).squeeze(1)
    close(att.extras["completeness_gap"], delta.abs() / f.abs())


@pytest.mark.parametrize("baseline", ["black", "blurred"])
def test_integrated_gradients_baselines_and_step_chunks(case, baseline):
    model, x, target, _ = case
    params = dict(
        steps=12, step_rule="riemann_middle", baseline=baseline, black_level=[-1.5] * x.shape[1], blur_sigma=2.0
    )
    att = explain("integrated_gradients", model, x, target, [], internal_batch_size=2 * len(x), **params)  # 6 passes
    b = make_baseline(x, baseline, params["black_level"], params["blur_sigma"])
    ref = IntegratedGradients(model).attribute(x, baselines=b, target=target, n_steps=12, method="riemann_middle")
    close(att.channels[:, 0], ref)


def test_cam_equals_captum_gradcam_on_the_gap_model(case):
    model, x, target, _ = case
    torch.manual_seed(1)
    gap = AlexNet128(3, 6, width=0.125, gap=True) if x.ndim == 4 else CNN1D(1, 10, 40, channels=(8, 8, 8), gap=True)
    gap = gap.double().eval()
    att = explain("cam", gap, x, target, explainable_layers(gap))
    a = gap.features(x)
    positions = a[0, 0].numel()
    ref = LayerGradCam(gap, gap.features).attribute(x, target=target, relu_attributions=False)
    up = lambda m: torch.nn.functional.interpolate(m, size=x.shape[2:], mode=interpolation(x)).squeeze(1)  # noqa: E731
    close(att.raw[:, 0] / positions, up(ref))
    close(att.maps[:, 0] / positions, up(ref.clamp(min=0)))
