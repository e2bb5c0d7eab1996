"""The visualisation engine: known answers (an oriented-edge channel), rising objective, seeding, batching."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from posthoc.features.visualise import (
    Settings,
    channel_objective,
    class_objective,
    gaussian_blur,
    layer_objective,
    noise_start,
    redirected_relu,
    total_variation,
    visualise,
)
from posthoc.models import CNN1D

PLAIN = Settings(steps=30, lr=0.05, normalise_grad=True)
REGULARISED = Settings(
    steps=15,
    lr=0.05,
    normalise_grad=True,
    levels=3,
    growth=1.5,
    blur_sigma=0.5,
    jitter=2,
    rotate=5.0,
    scale=0.05,
    tv=0.05,
    l2=0.01,
)


def _edge_model():
    """Channel 0: a vertical edge (dark left, bright right); channel 1: its horizontal transpose."""
    conv = nn.Conv2d(1, 2, 5, padding=2, bias=False)
    edge = torch.zeros(5, 5)
    edge[:, :2], edge[:, 3:] = -1.0, 1.0
    with torch.no_grad():
        conv.weight[0, 0] = edge
        conv.weight[1, 0] = edge.T
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()), edge


@pytest.mark.parametrize("settings", [PLAIN, REGULARISED], ids=["plain", "regularised"])
def test_channel_visualisation_of_an_edge_filter_is_that_edge(settings):
    model, edge = _edge_model()
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    start = noise_start(2, (1, 24, 24), lo, hi, seed=0)
    res = visualise(model, channel_objective(["0", "0"], [0, 1]), start, settings, low=lo, high=hi, seed=0)
    for channel, pattern in ((0, edge), (1, edge.T)):
        x = res.x[channel, 0]
        # the visualisation, filtered by the edge, responds far more than to the other orientation
        # and correlates with the filter pattern at the positions where the edge fires most
        resp = torch.nn.functional.conv2d(x[None, None], pattern[None, None], padding=2)[0, 0]
        i, j = np.unravel_index(int(resp[2:-2, 2:-2].argmax()), (20, 20))
        patch = x[i : i + 5, j : j + 5].flatten().numpy()
        r = np.corrcoef(patch, pattern.flatten().numpy())[0, 1]
        assert r > 0.8, (channel, r)
        # and the mean over the image of the matched response exceeds the other orientation's
        other = edge.T if channel == 0 else edge
        resp_other = torch.nn.functional.conv2d(x[None, None], other[None, None], padding=2).relu().mean()
        assert resp.relu().mean() > 2 * resp_other


def test_objective_rises_on_average_and_is_seeded():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()
    lo, hi = torch.full((3,), -2.0), torch.full((3,), 2.0)
    start = noise_start(4, (3, 20, 20), lo, hi, seed=1)
    res = visualise(model, class_objective([0, 1, 2, 3]), start, PLAIN, low=lo, high=hi, seed=5)
    mean = res.history.mean(1)
    assert (np.diff(mean) >= -1e-6).mean() >= 0.9 and mean[-1] > mean[0] + 0.1
    assert (res.final > res.history[0]).all()
    again = visualise(model, class_objective([0, 1, 2, 3]), start, REGULARISED, low=lo, high=hi, seed=5)
    twice = visualise(model, class_objective([0, 1, 2, 3]), start, REGULARISED, low=lo, high=hi, seed=5)
    torch.testing.assert_close(again.x, twice.x, rtol=0, atol=0)
    other = visualise(model, class_objective([0, 1, 2, 3]), start, REGULARISED, low=lo, high=hi, seed=6)
    assert not torch.equal(again.x, other.x)
    # with transforms the per-step objective is noisy, but a moving average still rises
    smooth = np.convolve(again.history.mean(1), np.ones(5) / 5, mode="valid")
    assert smooth[-1] > smooth[0]
    assert (again.x >= lo.view(1, -1, 1, 1) - 1e-6).all() and (again.x <= hi.view(1, -1, 1, 1) + 1e-6).all()
    # the model was left as it was
    assert all(p.requires_grad for p in model.parameters()) and all(p.grad is None for p in model.parameters())


def test_one_batch_equals_one_row_at_a_time():
    """Rows do not interact: channels of different layers in one batch = each optimised alone (no transforms)."""
    torch.manual_seed(0)
    model = CNN1D(1, 3, length=32, channels=(4, 4)).eval()
    s = Settings(steps=10, lr=0.05, normalise_grad=True, levels=2, growth=1.5, blur_sigma=0.5, tv=0.02)
    layers, chans = ["features.0", "features.2", "features.3"], [1, 3, 0]
    start = noise_start(3, (1, 32), None, None, seed=0)
    batch = visualise(model, channel_objective(layers, chans), start, s, seed=0)
    for r in range(3):
        alone = visualise(model, channel_objective(layers[r : r + 1], chans[r : r + 1]), start[r : r + 1], s, seed=0)
        torch.testing.assert_close(batch.x[r : r + 1], alone.x, rtol=1e-4, atol=1e-4)
    lay = visualise(model, layer_objective(["features.0", "features.3"]), start[:2], s, seed=0)
    assert lay.x.shape == (2, 1, 32) and (lay.final > lay.history[0]).all()


def _dead_channel_model():
    """Channel 0 of layer "1" fires on noise in [-1, 1]; channel 1 (sum of 3 samples, bias -4) is dead there."""
    torch.manual_seed(0)
    conv = nn.Conv1d(1, 2, 3, padding=1)
    with torch.no_grad():
        conv.weight[0, 0] = torch.tensor([1.0, -2.0, 1.0])
        conv.bias[0] = 0.0
        conv.weight[1, 0] = 1.0
        conv.bias[1] = -4.0
    return nn.Sequential(conv, nn.ReLU(inplace=True), nn.Conv1d(2, 2, 3, padding=1), nn.ReLU()).eval()


PLAIN_STEP = Settings(steps=20, lr=2.0, normalise_grad=False)


@pytest.mark.parametrize("settings", [PLAIN_STEP, REGULARISED], ids=["plain", "regularised"])
def test_redirected_relu_revives_a_dead_channel_and_leaves_live_rows_alone(settings):
    model = _dead_channel_model()
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    start = noise_start(2, (1, 24), lo, hi, seed=0)
    objective = channel_objective(["1", "1"], [0, 1])
    runs = {
        on: visualise(model, objective, start, replace(settings, redirect_relu=on), low=lo * 9, high=hi * 9, seed=0)
        for on in (False, True)
    }
    assert runs[False].history[0, 1] == 0 and runs[False].final[1] == 0  # dead at the start and to the end
    if settings == PLAIN_STEP:
        assert torch.equal(runs[False].x[1], start[1])  # no gradient at all: the start stays as it was
        assert runs[True].final[1] > 0  # redirected: it came alive
    else:  # the zero-mean normalised step barely lifts a uniform gradient, but the row does get one
        assert not torch.equal(runs[True].x[1], runs[False].x[1])
    assert runs[True].final[0] > runs[True].history[0, 0]
    torch.testing.assert_close(runs[True].x[0], runs[False].x[0], rtol=0, atol=0)  # the live row, bit for bit
    np.testing.assert_array_equal(runs[True].history[:, 0], runs[False].history[:, 0])


def test_redirected_relu_is_undone_and_only_redirects_stuck_rows():
    model = _dead_channel_model()
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    with pytest.raises(RuntimeError, match="inside"):
        with redirected_relu(model):
            assert all("forward" in m.__dict__ for m in relus)
            raise RuntimeError("inside")
    assert not any("forward" in m.__dict__ for m in relus) and model[1].inplace
    x = torch.tensor([[[-1.0, 2.0, -3.0]], [[-1.0, -2.0, -3.0]]], requires_grad=True)
    up = torch.tensor([[[1.0, 1.0, -1.0]], [[1.0, -1.0, 2.0]]])
    with redirected_relu(nn.ReLU()) as relu:
        (grad,) = torch.autograd.grad(relu(x), x, up)
        assert torch.equal(relu(x.detach()), torch.relu(x.detach()))
    # row 0 has a live ReLU gradient: the ordinary one; row 1 has none: only the ascent-raising entries pass
    np.testing.assert_array_equal(grad.numpy(), [[[0.0, 1.0, 0.0]], [[1.0, 0.0, 2.0]]])


def test_blur_matches_scipy_and_tv_is_zero_on_constants():
    x = torch.rand(2, 3, 20, 21)
    ref = gaussian_filter(x.numpy(), sigma=(0, 0, 1.2, 1.2), mode="mirror", truncate=3)
    np.testing.assert_allclose(gaussian_blur(x, 1.2).numpy(), ref, atol=1e-4)
    s = torch.rand(2, 1, 30)
    np.testing.assert_allclose(
        gaussian_blur(s, 0.7).numpy(),
        gaussian_filter(s.numpy(), sigma=(0, 0, 0.7), mode="mirror", truncate=3),
        atol=1e-4,
    )
    assert total_variation(torch.ones(2, 3, 5, 5)).abs().max() == 0


def test_class_visualisations_with_the_default_settings_beat_every_natural_image():
    """Known answer: a model whose class logit is the match with a smooth template (a bump at one of four
    places) is maximised by that bump, which no natural image of the set shows as strongly. With the
    schema's default `feature_vis` settings (pyramid, blur, jitter, rotation, scaling, TV), each class's
    visualisation scores its logit above every one of 204 natural images (noise, smooth random images and
    each template itself at 60 % of the range) and is brightest where its template is."""
    from posthoc.config import load_schema
    from posthoc.features.visualise import settings_from_config

    section = load_schema()["properties"]["feature_vis"]["properties"]
    settings = settings_from_config({k: v["default"] for k, v in section.items() if "default" in v})
    size, yy, xx = 24, *torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    centres = [(6, 6), (6, 17), (17, 6), (17, 17)]
    templates = torch.stack([torch.exp(-((yy - a) ** 2 + (xx - b) ** 2) / 18.0) for a, b in centres])
    templates -= templates.mean((1, 2), keepdim=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(size * size, 4, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(templates.reshape(4, -1))
    lo, hi = torch.tensor([-1.0]), torch.tensor([1.0])
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(100, 1, size, size, generator=gen) * 2 - 1
    smooth = torch.nn.functional.avg_pool2d(torch.rand(100, 1, size, size, generator=gen) * 2 - 1, 5, 1, 2) * 3
    shown = 0.6 * templates / templates.abs().amax((1, 2), keepdim=True)  # each template itself, at 60 % of range
    natural = torch.cat([noise, smooth.clamp(-1, 1), shown[:, None]])
    start = noise_start(4, (1, size, size), lo, hi, seed=0)
    res = visualise(model, class_objective([0, 1, 2, 3]), start, settings, low=lo, high=hi, seed=0)
    with torch.no_grad():
        ours = model(res.x).diagonal()
        best_natural = model(natural).max(0).values
    assert (ours > best_natural).all(), (ours, best_natural)
    for c, (a, b) in enumerate(centres):  # the brightest quadrant is the template's
        quadrants = res.x[c, 0].reshape(2, 12, 2, 12).mean((1, 3))
        assert quadrants.argmax() == (a > 12) * 2 + (b > 12), quadrants
