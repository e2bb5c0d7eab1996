"""The device-ready input path: same batches, same training result as converting on the CPU first; flat memory."""

import mmap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from posthoc.loader import DeviceBatches, index_batches, mapping_of, release_pages
from posthoc.models import AlexNet128, CNN1D
from posthoc.preprocess import to_model_input
from posthoc.train import Normaliser, fit, predict_logits


def reference_fit(model, train, normalise, *, epochs, batch_size, lr, weight_decay, seed):
    """The training loop as it was before the input path: gather, convert on the CPU, copy, step."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    x_train, y_train = train
    n = len(y_train)
    labels_all = torch.from_numpy(np.array(y_train, dtype=np.int64))
    losses = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        torch.manual_seed(seed * 100_003 + epoch)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = np.sort(order[start : start + batch_size])
            xb, yb = normalise(x_train[idx]), labels_all[idx]
            loss = F.cross_entropy(model(xb), yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        losses.append(total / n)
    return losses


def images(tmp_path, n=48, size=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 3, n).astype(np.int64)
    path = tmp_path / "train_images.npy"
    np.save(path, x)
    return np.load(path, mmap_mode="r"), y


@pytest.mark.parametrize("kind", ["images", "signals"])
def test_training_through_input_path_equals_old_path(tmp_path, kind):
    if kind == "images":
        x, y = images(tmp_path)
        norm = Normaliser([0.5, 0.4, 0.3], [0.2, 0.25, 0.3], 255.0)
        make = lambda: AlexNet128(3, 3, width=0.0625)  # noqa: E731
    else:
        rng = np.random.default_rng(1)
        x, y = rng.normal(size=(60, 16)).astype(np.float32), rng.integers(0, 3, 60)
        norm = Normaliser([0.1], [0.9], 1.0)
        make = lambda: CNN1D(1, 3, 16, channels=(4, 4), dropout=0.3)  # noqa: E731
    torch.manual_seed(3)
    ours = make()
    torch.manual_seed(3)
    ref = make()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))
    kw = dict(epochs=2, batch_size=16, lr=1e-3, weight_decay=1e-5, seed=7)
    history = fit(ours, (x, y), (x[:10], y[:10]), norm, device=torch.device("cpu"), **kw)
    ref_losses = reference_fit(ref, (x, y), norm, **kw)
    assert history["train_loss"].tolist() == ref_losses
    for (name, a), b in zip(ours.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), name
    ours.eval(), ref.eval()
    with torch.no_grad():
        expected = torch.cat([ref(norm(x[s])) for s in index_batches(len(x), 7)])
    assert torch.equal(predict_logits(ours, x, norm, batch_size=7), expected)


def test_batches_match_cpu_conversion_in_order_with_labels(tmp_path):
    x, y = images(tmp_path, n=30)
    norm = Normaliser([0.5, 0.5, 0.5], [0.25, 0.25, 0.25], 255.0)
    order = np.random.default_rng(0).permutation(len(x))
    batches = index_batches(len(x), 8, order)
    assert [len(b) for b in batches] == [8, 8, 8, 6]
    assert all((np.diff(b) > 0).all() for b in batches)
    for prefetch in (0, 3):
        got = list(DeviceBatches(x, batches, norm, "cpu", with_arrays=[y], prefetch=prefetch, release_bytes=1))
        assert len(got) == len(batches)
        for (xb, (yb,)), idx in zip(got, batches):
            assert torch.equal(xb, to_model_input(x[idx], norm.mean, norm.std, norm.pixel_scale))
            assert yb.tolist() == y[idx].tolist()


def test_channels_last_keeps_values(tmp_path):
    x, _ = images(tmp_path, n=5)
    norm = Normaliser([0.5] * 3, [0.2] * 3, 255.0)
    ((xb, _),) = DeviceBatches(x, [slice(0, 5)], norm, "cpu", channels_last=True)
    assert xb.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(xb, to_model_input(x[:5], norm.mean, norm.std, 255.0))


def test_worker_error_reaches_the_consumer(tmp_path):
    x, _ = images(tmp_path, n=5)
    norm = Normaliser([0.5] * 3, [0.2] * 3, 255.0)
    with pytest.raises(IndexError):
        list(DeviceBatches(x, [np.array([0, 99])], norm, "cpu"))


def test_release_pages_drops_resident_pages(tmp_path):
    x, _ = images(tmp_path, n=64, size=64)
    assert isinstance(mapping_of(x[2:5]), mmap.mmap)
    assert mapping_of(np.zeros(3)) is None
    before = np.array(x[:10])
    release_pages(x)  # the mapping stays readable: pages come back from the file
    assert np.array_equal(np.array(x[:10]), before)
    release_pages(np.zeros(3))  # in-memory arrays: nothing to do


def test_chunked_npy_writer_writes_what_np_save_writes(tmp_path):
    from posthoc.io import save_npy
    from posthoc.mapped import row_chunks

    x, _ = images(tmp_path, n=40, size=48)
    save_npy(tmp_path / "copy.npy", x)
    np.save(tmp_path / "plain.npy", np.array(x))
    assert (tmp_path / "copy.npy").read_bytes() == (tmp_path / "plain.npy").read_bytes()
    chunks = list(row_chunks(x, chunk_bytes=48 * 48 * 3 * 7))
    assert [len(c) for c in chunks] == [7] * 5 + [5]
    assert np.array_equal(np.concatenate(chunks), x)


def test_gather_into_a_given_buffer(tmp_path):
    from posthoc.loader import gather

    x, _ = images(tmp_path, n=12, size=48)
    for index in (slice(2, 7), np.array([0, 3, 4, 9, 11])):
        out = np.empty((5, *x.shape[1:]), np.uint8)
        assert gather(x, index, out=out) is out
        assert np.array_equal(out, np.asarray(x)[index])


def _mapped_rss_kb(path) -> int:
    """Resident kB of this process's mappings of ``path`` (Linux /proc/self/smaps)."""
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def test_file_reads_equal_the_mapped_gather_and_touch_no_mapped_page(tmp_path):
    """Splits mapped straight from their file are read with positioned reads: the same bytes as indexing
    the map (runs of consecutive rows, slices, single rows), and no page of the mapping becomes resident;
    views and in-memory arrays go through the mapping as before."""
    import os

    from posthoc.loader import file_rows, read_rows

    x, _ = images(tmp_path, n=64, size=40)
    plain = np.load(tmp_path / "train_images.npy")  # in memory, for the expected values
    assert file_rows(x)[2:] == (40 * 40 * 3, 64) and file_rows(x[3:]) is None and file_rows(plain) is None
    source = file_rows(x)
    fd = os.open(source[0], os.O_RDONLY)
    try:
        for index in (np.array([0, 1, 2, 7, 8, 30, 63]), np.array([5]), slice(10, 42), slice(60, 64)):
            out = np.empty_like(plain[index])
            assert np.array_equal(read_rows(source, fd, index, out), plain[index])
        with pytest.raises(IndexError, match="has 64"):
            read_rows(source, fd, np.array([3, 64]), np.empty((2, 40, 40, 3), np.uint8))
    finally:
        os.close(fd)
    norm = Normaliser([0.5] * 3, [0.2] * 3, 255.0)
    batches = index_batches(64, 16, np.random.default_rng(1).permutation(64))
    stream = iter(DeviceBatches(x, batches, norm, "cpu", release_bytes=1 << 40))
    first = next(stream)[0]
    if os.path.exists("/proc/self/smaps"):  # mid-pass, before any release: nothing was read through the map
        assert _mapped_rss_kb(tmp_path / "train_images.npy") == 0
    got = torch.cat([first, *(xb for xb, _ in stream)])
    want = torch.cat([to_model_input(plain[b], norm.mean, norm.std, norm.pixel_scale) for b in batches])
    assert torch.equal(got, want)
