"""Occlusion sensitivity against Captum's Occlusion (same window, stride, baseline) and its three maps."""

import pytest
import torch
from captum.attr import Occlusion

from posthoc.explain import explain
from posthoc.explain.occlusion import scan, window_geometry, window_masks
from posthoc.models import AlexNet128, CNN1D


def peaked(model):
    """An untrained model is nearly uniform; sharpen its logits so that occlusion moves them."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(40)
    return model.double().eval()


def captum_occlusion(model, x, target, window, stride, fill):
    c = x.shape[1]
    ref = Occlusion(lambda z: torch.softmax(model(z), 1)).attribute(
        x,
        sliding_window_shapes=(c, *window),
        strides=(c, *stride),
        baselines=fill,
        target=target,
        perturbations_per_eval=3,
    )
    assert (ref == ref[:, :1]).all()  # the window spans every channel
    return ref[:, 0]


CASES = [  # (model, input shape, window, stride, fill, batch_size)
    ("alexnet", (3, 3, 64, 50), 11, 4, 0.0, 37),  # non-square; last window cut off at the border
    ("alexnet", (2, 3, 48, 48), 16, 16, 0.5, 256),  # stride = window; non-zero fill
    ("cnn1d", (4, 1, 40), 7, 3, 0.0, 10),
    ("cnn1d", (3, 2, 33), 5, 1, -1.0, 64),  # two channels, stride 1
]


@pytest.mark.parametrize("kind, shape, window, stride, fill, batch_size", CASES)
def test_occlusion_equals_captum(kind, shape, window, stride, fill, batch_size):
    torch.manual_seed(0)
    n, c = shape[:2]
    model = AlexNet128(c, 6, width=0.125) if kind == "alexnet" else CNN1D(c, 5, shape[2], channels=(8, 8))
    model = peaked(model)
    x = torch.randn(*shape, dtype=torch.float64)
    target = torch.arange(n) % 5
    att = explain("occlusion", model, x, target, [], window=window, stride=stride, fill=fill, batch_size=batch_size)
    assert att.layers == ["input"] and att.maps.shape == (n, 1, *shape[2:]) and att.maps.dtype == torch.float32
    assert torch.isfinite(att.maps).all()
    wins, strides = window_geometry(shape[2:], window, stride)
    ref = captum_occlusion(model, x, target, wins, strides, fill).float()
    assert ref.abs().max() > 1e-3
    torch.testing.assert_close(att.maps[:, 0], ref, rtol=1e-4, atol=1e-6 * ref.abs().max().item())


def test_window_positions_cover_the_input_like_captum():
    masks = window_masks(50, 11, 4)
    assert masks.shape == (11, 50)  # ceil((50 − 11) / 4) + 1
    assert masks.any(0).all()  # every position covered
    assert masks[-1].nonzero().squeeze(1).tolist() == list(range(40, 50))  # cut off at the border


def test_window_and_stride_are_in_the_inputs_own_units():
    assert window_geometry((64, 64), 16, 5) == ((16, 16), (5, 5))  # not rescaled from another size
    assert window_geometry((40,), 4, 2) == ((4,), (2,))
    assert window_geometry((20,), 90, 20) == ((20,), (20,))  # clamped to the input
    assert window_geometry((20,), 6, 9) == ((6,), (6,))  # stride at most the window


def test_scan_maps_match_single_forward_passes():
    torch.manual_seed(1)
    model = peaked(AlexNet128(3, 4, width=0.125))
    x, target = torch.randn(2, 3, 48, 48, dtype=torch.float64), torch.tensor([1, 3])
    layer = "features.10"
    res = scan(model, x, target, window=16, stride=8, fill=0.0, batch_size=7, layer=layer)
    assert res.grid == (5, 5) and res.prob.shape == res.pred.shape == res.activation.shape == (2, 5, 5)
    acts = {}
    model.get_submodule(layer).register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    with torch.no_grad():
        p0 = torch.softmax(model(x), 1)
        channel = acts["a"].clamp(min=0).flatten(2).sum(2).argmax(1)
        torch.testing.assert_close(res.prob0, p0[[0, 1], target])
        assert res.channel.tolist() == channel.tolist()
        for i, pos in [(0, (0, 0)), (1, (2, 3)), (0, (4, 4))]:
            occluded = x[i : i + 1].clone()
            occluded[..., res.window_mask(pos)] = 0.0
            p = torch.softmax(model(occluded), 1)[0]
            torch.testing.assert_close(res.prob[i][pos], p[target[i]])
            assert res.pred[i][pos] == p.argmax()
            total = acts["a"][0, channel[i]].clamp(min=0).sum()
            torch.testing.assert_close(res.activation[i][pos], total)


def test_result_does_not_depend_on_batch_size():
    torch.manual_seed(2)
    model = CNN1D(1, 3, 30, channels=(4,)).eval()
    x, target = torch.randn(5, 1, 30), torch.tensor([0, 1, 2, 0, 1])
    a = explain("occlusion", model, x, target, [], window=6, stride=2, batch_size=1000).maps
    b = explain("occlusion", model, x, target, [], window=6, stride=2, batch_size=3).maps
    torch.testing.assert_close(a, b)


def test_channel_projection_is_the_deconvnet_reconstruction_of_that_channel():
    """Same as the gradient family's DeconvNet on a model whose layer keeps only that channel."""
    from posthoc.explain.occlusion import channel_projection

    torch.manual_seed(3)
    model = AlexNet128(3, 4, width=0.125).double().eval()
    x, layer = torch.randn(2, 3, 48, 48, dtype=torch.float64), "features.6"
    channel = torch.tensor([2, 5])
    ours = channel_projection(model, x, layer, channel)
    only = torch.zeros(2, model.get_submodule(layer).out_channels, 1, 1, dtype=torch.float64)
    only[[0, 1], channel] = 1.0
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, out: out * only)
    try:
        ref = explain("deconvnet", model, x, torch.tensor([0, 0]), [layer]).channels[:, 0]
    finally:
        handle.remove()
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12 * ref.abs().max().item())


def test_result_does_not_depend_on_how_inputs_are_chunked(monkeypatch):
    import importlib

    occ = importlib.import_module("posthoc.explain.occlusion")  # the module (the package exports a function)

    torch.manual_seed(4)
    model = peaked(AlexNet128(3, 4, width=0.125))
    x, target = torch.randn(3, 3, 40, 40, dtype=torch.float64), torch.tensor([0, 1, 2])
    whole = explain("occlusion", model, x, target, [], window=12, stride=6, batch_size=8).maps
    monkeypatch.setattr(occ, "CHUNK_ELEMENTS", 1)  # one forward batch per chunk
    chunked = explain("occlusion", model, x, target, [], window=12, stride=6, batch_size=8).maps
    torch.testing.assert_close(chunked, whole, rtol=0, atol=0)
    lime_whole = explain("lime", model, x, target, [], n_samples=20, kernel_size=2, max_dist=10, batch_size=8)
    monkeypatch.setattr(occ, "CHUNK_ELEMENTS", 1 << 23)
    lime_chunked = explain("lime", model, x, target, [], n_samples=20, kernel_size=2, max_dist=10, batch_size=8)
    torch.testing.assert_close(lime_chunked.maps, lime_whole.maps, rtol=1e-6, atol=1e-9)


def test_multi_label_occlusion_is_the_drop_of_the_label_sigmoid():
    """A multi-label model (task ``multi-label``): the map is the drop of the target label's sigmoid, computed
    here window by window (window = stride: each position is covered once)."""
    torch.manual_seed(0)
    model = peaked(CNN1D(1, 4, 24, channels=(8, 8)))
    x, target = torch.randn(3, 1, 24, dtype=torch.float64), torch.tensor([0, 2, 3])
    att = explain("occlusion", model, x, target, [], task="multi-label", window=6, stride=6, fill=0.0)
    expected = torch.empty(3, 24, dtype=torch.float64)
    with torch.no_grad():
        p0 = torch.sigmoid(model(x))[torch.arange(3), target]
        for start in range(0, 24, 6):
            hidden = x.clone()
            hidden[:, :, start : start + 6] = 0.0
            p = torch.sigmoid(model(hidden))[torch.arange(3), target]
            expected[:, start : start + 6] = (p0 - p)[:, None]
    assert expected.abs().max() > 1e-3
    torch.testing.assert_close(att.maps[:, 0], expected.float(), rtol=1e-5, atol=1e-7)
    softmax = explain("occlusion", model, x, target, [], window=6, stride=6, fill=0.0)  # multi-class: softmax
    assert (softmax.maps - att.maps).abs().max() > 1e-3
    res = scan(model, x, target, 6, 6, task="multi-label")
    torch.testing.assert_close(res.prob0, p0)
    torch.testing.assert_close(res.pred0, torch.sigmoid(model(x)).argmax(1))  # the top-scoring label
