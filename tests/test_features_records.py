"""Running top-k records and max-activating patches equal a brute-force scan of the split."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from posthoc.features.patches import top_patches
from posthoc.features.receptive import receptive_field
from posthoc.features.records import most_variable, record
from posthoc.models import AlexNet128, CNN1D


def _brute_force(model, layer, x, labels, n_classes, k):
    store = {}
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    with torch.no_grad():
        model(x)
    h.remove()
    a = store["a"].numpy()
    n, c = a.shape[:2]
    flat = a.reshape(n, c, -1)
    value = flat.max(2)  # (N, C)
    where = flat.argmax(2)
    order = np.argsort(-value.T, axis=1, kind="stable")[:, :k]  # (C, k)
    positions = np.stack(np.unravel_index(np.take_along_axis(where.T, order, 1), a.shape[2:]), -1)
    means = flat.mean(2)
    class_mean = np.stack([means[labels == j].mean(0) for j in range(n_classes)], 1)
    return order, np.take_along_axis(value.T, order, 1), positions, class_mean, a


PATHS = pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float64], ids=["compiled loop (CPU float32)", "torch reductions (other dtypes)"]
)


@PATHS
@pytest.mark.parametrize("kind", ["image", "signal"])
def test_records_and_patches_equal_a_brute_force_scan(kind, dtype):
    torch.manual_seed(0)
    if kind == "image":
        model, x = AlexNet128(3, 3, width=0.05).eval(), torch.randn(70, 3, 48, 48)
    else:
        model, x = CNN1D(1, 3, length=40, channels=(4, 5)).eval(), torch.randn(70, 1, 40)
    model, x = model.to(dtype), x.to(dtype)
    labels = np.arange(70) % 3
    layers = [
        n
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ReLU)) and n.startswith("features")
    ]
    batches = [(x[s], labels[s]) for s in (slice(0, 32), slice(32, 64), slice(64, 70))]
    rec = record(model, layers, batches, n_classes=3, k=5)
    assert rec.layers == layers
    for layer, got in zip(layers, rec.per_layer):
        order, value, position, class_mean, a = _brute_force(model, layer, x, labels, 3, 5)
        np.testing.assert_array_equal(got["index"], order, err_msg=layer)
        np.testing.assert_allclose(got["value"], value, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(got["position"], position)
        np.testing.assert_allclose(got["class_mean"], class_mean, rtol=1e-5, atol=1e-6)
        flat = a.reshape(len(a), a.shape[1], -1)
        means, maxima = flat.mean(2), flat.max(2)
        np.testing.assert_allclose(got["mean"], means.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got["max"], flat.max((0, 2)).astype(np.float32))
        np.testing.assert_allclose(got["best_mean"], means.max(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["max_std"], maxima.std(0), rtol=1e-4, atol=1e-6)
        assert all(
            got[key].dtype == np.float32 for key in ("value", "class_mean", "mean", "max", "best_mean", "max_std")
        )
        assert got["index"].dtype == np.int64 and got["value"].dtype == np.float32
        # the patch around the argmax, run through the layer alone, reproduces the recorded value
        field = receptive_field(model, layer, x.ndim - 2)
        channels = most_variable(got["max_std"], 2)
        patches = top_patches(lambda rows: x.numpy()[rows], got["index"], got["position"], channels, field, 3)
        assert patches.shape == (2, 3, x.shape[1], *field.size)
        for ci, c in enumerate(channels):
            for j in range(3):
                row, pos = got["index"][c, j], got["position"][c, j]
                start, stop = field.box(pos)
                inside = tuple(slice(max(s0, 0), min(s1, n)) for s0, s1, n in zip(start, stop, x.shape[2:]))
                patch_inside = patches[ci, j][
                    (slice(None), *(slice(sl.start - s0, sl.stop - s0) for sl, s0 in zip(inside, start)))
                ]
                np.testing.assert_array_equal(patch_inside, x[row].numpy()[(slice(None), *inside)])
                assert np.isnan(patches[ci, j]).sum() == patches[ci, j].size - patch_inside.size


@PATHS
def test_multi_label_class_mean_is_each_labels_mean_over_the_images_carrying_it(dtype):
    torch.manual_seed(0)
    model, x = CNN1D(1, 4, length=40, channels=(4, 5)).eval().to(dtype), torch.randn(50, 1, 40, dtype=dtype)
    labels = (np.random.default_rng(0).random((50, 4)) < 0.4).astype(np.int64)  # some images carry none, some many
    labels[:, 3] = 0  # a label no image carries: mean 0 (no images)
    layer = "features.1"
    batches = [(x[s], labels[s]) for s in (slice(0, 32), slice(32, 50))]
    got = record(model, [layer], batches, n_classes=4, k=3).per_layer[0]
    *_, a = _brute_force(model, layer, x, np.zeros(50, dtype=np.int64), 1, 3)
    means = a.reshape(50, a.shape[1], -1).mean(2)
    expected = np.stack([means[labels[:, j] == 1].mean(0) for j in range(3)] + [np.zeros(a.shape[1])], 1)
    assert got["class_mean"].shape == (a.shape[1], 4)
    np.testing.assert_allclose(got["class_mean"], expected, rtol=1e-5, atol=1e-6)


def test_ties_keep_the_earlier_image_first():
    model = nn.Sequential(nn.Conv1d(1, 1, 1, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    x = torch.tensor([[[-1.0, -2.0]], [[1.0, 3.0]], [[-5.0, 0.0]], [[3.0, 3.0]]])  # rows 0, 2 tie at 0; 1, 3 at 3
    rec = record(model, ["1"], [(x[:2], np.zeros(2, int)), (x[2:], np.zeros(2, int))], n_classes=1, k=4)
    np.testing.assert_array_equal(rec.per_layer[0]["index"], [[1, 3, 0, 2]])
    np.testing.assert_array_equal(rec.per_layer[0]["position"][0, :, 0], [1, 0, 0, 0])


@PATHS
def test_ties_across_batches_equal_a_brute_force_scan(dtype):
    """Coarse values (many ties, dead rows), a first batch smaller than k, batches of uneven sizes."""
    model = nn.Sequential(nn.Conv1d(1, 3, 1), nn.ReLU()).eval().to(dtype)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, -1.0, 0.0]).view(3, 1, 1))
        model[0].bias.copy_(torch.tensor([0.0, 0.0, 1.0]))  # channel 2: 1 everywhere, every image ties
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, (38, 1, 5), generator=gen).to(dtype)
    labels = np.arange(38) % 2
    sizes = np.cumsum([0, 2, 3, 7, 1, 20, 5])
    batches = [(x[a:b], labels[a:b]) for a, b in zip(sizes[:-1], sizes[1:])]
    got = record(model, ["1"], batches, n_classes=2, k=4).per_layer[0]
    order, value, position, class_mean, _ = _brute_force(model, "1", x, labels, 2, 4)
    np.testing.assert_array_equal(got["index"], order)
    np.testing.assert_array_equal(got["value"], value)
    np.testing.assert_array_equal(got["position"], position)
    np.testing.assert_allclose(got["class_mean"], class_mean, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the brute force's inf - inf
@pytest.mark.parametrize("k", [1, 2, 4], ids=["k below the batch", "k = batch", "k above the batch"])
@PATHS
def test_nan_and_negative_zero_rank_as_a_brute_force_scan(k, dtype):
    """The compiled loop's maxima come from an integer max over keys of the float bits: NaN of either sign
    and -0 stay right, also where a negative NaN sits beside large values; inf - inf (a NaN sum) is no NaN."""
    model = nn.Sequential(nn.Identity(), nn.ReLU()).eval()
    x = torch.tensor([[[1.0, 2.0, 0.5]], [[-0.0, -0.0, -1.0]], [[3.0, 0.0, 1.0]], [[4.0, 1.0, 9.0]], [[0.5, 0, 0]]])
    x = torch.cat([x, torch.tensor([[[torch.inf, -torch.inf, 2.0]]])]).to(dtype)
    x[0, 0, 1], x[3, 0, 0] = -torch.nan, -torch.nan  # rows 0 and 3 hold a negative NaN beside large values
    x[2, 0, 2] = torch.nan  # and row 2 a positive one
    x = torch.cat([x, torch.nan_to_num(x, nan=1.0, posinf=torch.inf, neginf=-torch.inf)], 1)  # channel 1: no NaN
    labels = np.zeros(6, int)
    batches = [(x[:2], labels[:2]), (x[2:], labels[2:])]
    for layer in ("0", "1"):  # the same values before and after the ReLU but for the negative entries
        got = record(model, [layer], batches, n_classes=1, k=k).per_layer[0]
        order, value, position, _, a = _brute_force(model, layer, x, labels, 1, k)
        np.testing.assert_array_equal(got["value"], value)
        np.testing.assert_array_equal(got["index"], order)
        np.testing.assert_array_equal(got["position"], position)
        means = a.mean(2)  # channel 0: NaN everywhere; channel 1 before the ReLU: inf - inf, a NaN mean, max inf
        np.testing.assert_array_equal(got["max"], a.max((0, 2)).astype(np.float32))
        np.testing.assert_array_equal(got["best_mean"], means.max(0).astype(np.float32))
        np.testing.assert_array_equal(got["mean"], means.mean(0).astype(np.float32))


@PATHS
def test_labels_outside_the_classes_are_refused(dtype):
    model = nn.Sequential(nn.Conv1d(1, 2, 1), nn.ReLU()).eval().to(dtype)
    x = torch.randn(4, 1, 5, dtype=dtype)
    with pytest.raises(ValueError, match=r"row 2 of the split has label 3, outside \[0, 3\)"):
        record(model, ["1"], [(x[:2], [0, 1]), (x[2:], [3, 0])], n_classes=3, k=2)
    with pytest.raises(ValueError, match="multi-label labels have 2 columns; the record expects 3"):
        record(model, ["1"], [(x, np.ones((4, 2), int))], n_classes=3, k=2)
    model.add_module("spare", nn.Identity())
    model.forward = lambda inputs: model[1](model[0](inputs))  # "spare" is never called
    with pytest.raises(ValueError, match=r"layers \['spare'\] produced no output"):
        record(model, ["1", "spare"], [(x, [0, 1, 2, 0])], n_classes=3, k=2)


def test_the_record_does_not_depend_on_the_thread_count():
    """Each (image, channel) row is reduced by one thread and each channel folded in image order."""
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Identity(), nn.ReLU()), torch.randn(300, 8, 40)  # outputs exact on any threads
    labels = np.arange(300) % 3
    batches = [(x[s], labels[s]) for s in (slice(0, 128), slice(128, 256), slice(256, 300))]
    threads = torch.get_num_threads()
    try:
        got = []
        for n in (1, 2):
            torch.set_num_threads(n)
            got.append(record(model, ["0", "1"], batches, n_classes=3, k=4).per_layer)
    finally:
        torch.set_num_threads(threads)
    for one, two in zip(*got):
        for key in one:
            np.testing.assert_array_equal(one[key], two[key], err_msg=key)


def test_recording_keeps_torchs_thread_count():
    """Starting numba's OpenMP pool resets the runtime's thread count, which torch shares (a fresh process)."""
    code = (
        "import numpy as np, torch; torch.set_num_threads(1)\n"
        "from torch import nn; from posthoc.features.records import record\n"
        "record(nn.Sequential(nn.ReLU()), ['0'], [(torch.randn(4, 2, 3), np.zeros(4, int))], n_classes=1, k=2)\n"
        "print(torch.get_num_threads())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1"]
