"""The device-ready input path shared by training and every stage that scores stored samples.

Stored splits are memory-mapped uint8 images (N, H, W, C) or float32 signals (N, L). A background
thread gathers each batch's rows as they are stored (uint8: a quarter of the bytes of float32),
pins them when the device is a GPU, and the consumer copies them with ``non_blocking=True`` and
converts and normalises them *on the device* (:func:`posthoc.preprocess.normalise_tensor`, the same
operations in the same order as on the CPU, so CPU results are bit-identical to converting first).
While the model works on one batch the thread gathers the next ones.

Memory stays flat in the dataset size: a split memory-mapped straight from its ``.npy`` file is
gathered with positioned reads (``os.preadv``) from the file into the batch buffer, so no page of
the mapping enters this process (and the kernel does no page-table work per 4 KiB, which made the
mapped gather fault-bound). Other arrays are gathered through the mapping, whose touched pages
count towards the process's resident memory until released: the thread hands them back to the
page cache (``madvise(MADV_DONTNEED)``; the file is read-only, nothing is lost) after every
``release_bytes`` it has read.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from .mapped import mapping_of, release_pages  # noqa: F401  (re-exported)
from .preprocess import normalise_tensor

RELEASE_BYTES = 1 << 28  # hand mapped pages back after this many bytes read (256 MiB)


def file_rows(array) -> tuple[str, int, int, int] | None:
    """``(path, offset of row 0, bytes per row, rows)`` of a C-contiguous array memory-mapped straight from
    a file (as :func:`posthoc.data.load_split` opens splits), else None (views, in-memory arrays)."""
    if not (isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.filename):
        return None
    if not array.flags.c_contiguous or array.ndim < 1:
        return None
    row = int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize
    return array.filename, int(array.offset), row, len(array)


def read_rows(source: tuple[str, int, int, int], fd: int, index, out: np.ndarray) -> np.ndarray:
    """Read the rows ``index`` (a slice or sorted integer indices) of a file-backed array into ``out`` with
    positioned reads: the bytes go from the page cache straight into ``out`` (a pinned buffer on CUDA),
    without faulting the mapping's pages into this process (no page-table work, no resident growth).
    Consecutive rows are read with one call."""
    _, offset, row, n = source
    flat = memoryview(out.reshape(len(out), -1).view(np.uint8)).cast("B")
    if isinstance(index, slice):
        starts, lengths = np.array([index.indices(n)[0]]), np.array([len(out)])
    else:
        index = np.asarray(index, dtype=np.int64)
        if len(index) and (index[0] < 0 or index[-1] >= n):
            raise IndexError(f"rows {index[0]}..{index[-1]} of {source[0]}, which has {n}")
        breaks = np.flatnonzero(np.diff(index) != 1) + 1  # runs of consecutive rows
        starts, lengths = index[np.r_[0, breaks]], np.diff(np.r_[0, breaks, len(index)])
    done = 0
    for start, length in zip(starts.tolist(), lengths.tolist()):
        want, got = length * row, 0
        while got < want:  # a positioned read may return fewer bytes than asked
            n = os.preadv(fd, [flat[done + got : done + want]], offset + start * row + got)
            if n <= 0:
                raise OSError(f"unexpected end of {source[0]} at row {start}")
            got += n
        done += want
    return out


def gather(array: np.ndarray, index, out: np.ndarray | None = None) -> np.ndarray:
    """``array[index]`` as an in-memory copy (``index``: a slice or sorted integer indices), written into
    ``out`` when given (e.g. a pinned buffer, so that no second copy is needed before the transfer)."""
    if out is not None:
        if isinstance(index, slice):
            out[...] = array[index]
        else:
            np.take(array, index, axis=0, out=out)
        return out
    rows = array[index]
    return np.array(rows) if isinstance(index, slice) else np.asarray(rows)


def _batch_length(index, n: int) -> int:
    return len(range(*index.indices(n))) if isinstance(index, slice) else len(index)


class DeviceBatches:
    """Iterate normalised model inputs for ``index_batches`` of ``images`` on ``device``.

    Each item is ``(x, extra)``: ``x`` float32 (B, C, H, W) or (B, 1, L) on the device, ``extra``
    the rows of each array of ``with_arrays`` for the same indices (as device tensors). ``prefetch``
    batches are gathered ahead by one background thread (0: gather in the calling thread).
    ``channels_last`` (default: on CUDA only, where convolutions prefer it; on the CPU the default
    layout keeps results identical to the plain path) sets the memory format of image batches.
    """

    def __init__(
        self,
        images: np.ndarray,
        index_batches: Iterable,
        normalise,
        device: torch.device | str,
        *,
        with_arrays: Sequence[np.ndarray] = (),
        prefetch: int = 2,
        channels_last: bool | None = None,
        release_bytes: int = RELEASE_BYTES,
    ):
        self.images, self.index_batches = images, list(index_batches)
        self.normalise, self.device = normalise, torch.device(device)
        self.with_arrays = [
            torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a for a in with_arrays
        ]
        self.prefetch, self.release_bytes = int(prefetch), int(release_bytes)
        self.channels_last = (self.device.type == "cuda") if channels_last is None else bool(channels_last)
        self.pin = self.device.type == "cuda"

    def __len__(self) -> int:
        return len(self.index_batches)

    def _produce(self) -> Iterator[torch.Tensor]:
        source = file_rows(self.images)
        fd = os.open(source[0], os.O_RDONLY) if source else -1
        try:
            yield from self._gathered(source, fd)
        finally:
            if fd >= 0:
                os.close(fd)
            release_pages(self.images)

    def _gathered(self, source, fd: int) -> Iterator[torch.Tensor]:
        read = 0
        row_bytes = int(np.prod(self.images.shape[1:])) * self.images.itemsize
        dtype = torch.from_numpy(np.zeros(0, self.images.dtype)).dtype
        for index in self.index_batches:
            shape = (_batch_length(index, len(self.images)), *self.images.shape[1:])
            if source:  # positioned reads from the file into the (pinned) buffer: no mapped pages touched
                buf = torch.empty(shape, dtype=dtype, pin_memory=self.pin)
                read_rows(source, fd, index, buf.numpy())
                yield buf
                continue
            if self.pin:  # gathered straight into page-locked memory: the copy to the GPU can overlap compute
                buf = torch.empty(shape, dtype=dtype, pin_memory=True)
                gather(self.images, index, out=buf.numpy())
            else:
                rows = gather(self.images, index)
                buf = torch.from_numpy(rows if rows.flags.writeable else rows.copy())
            read += len(buf) * row_bytes
            if read >= self.release_bytes:
                release_pages(self.images)
                read = 0
            yield buf

    def host_batches(self) -> Iterator[torch.Tensor]:
        if self.prefetch <= 0:
            yield from self._produce()
            return
        # the host side: stored rows of each batch, gathered ahead by one thread (pinned on CUDA)
        slots: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def worker():
            try:
                for item in self._produce():
                    while not stop.is_set():
                        try:
                            slots.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                slots.put(done)
            except BaseException as err:  # re-raised in the consumer
                slots.put(err)

        thread = threading.Thread(target=worker, name="posthoc-input", daemon=True)
        thread.start()
        try:
            while True:
                item = slots.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a worker waiting on a full queue
                try:
                    slots.get_nowait()
                except queue.Empty:
                    pass
                thread.join(timeout=0.05)

    def __iter__(self):
        n = self.normalise
        for index, stored in zip(self.index_batches, self.host_batches()):
            on_device = stored.to(self.device, non_blocking=self.pin)
            x = normalise_tensor(on_device, n.mean, n.std, n.pixel_scale)
            if self.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            extra = tuple(
                a[torch.as_tensor(index) if not isinstance(index, slice) else index].to(
                    self.device, non_blocking=self.pin
                )
                for a in self.with_arrays
            )
            yield x, extra


def index_batches(n: int, batch_size: int, order: np.ndarray | None = None) -> list:
    """Batches of ``range(n)`` as slices, or of ``order`` as sorted index arrays (sorted: memory-map reads in
    file order)."""
    if order is None:
        return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    return [np.sort(order[s : s + batch_size]) for s in range(0, n, batch_size)]
