"""Memory maps without resident-memory growth.

Pages of a memory map that a process has touched count towards its resident memory (RSS) until it
unmaps or releases them, so one sequential pass over a 4 GB ``.npy`` split would show 4 GB resident
even though the kernel could drop them at any time. Long passes over a map therefore release the
pages they have read (``madvise(MADV_DONTNEED)``: for a read-only file mapping they stay in the page
cache and come back from there on the next access; nothing is lost), and writers of large arrays
write through the file, not through a writable map.
"""

from __future__ import annotations

import mmap
from typing import Iterator

import numpy as np

CHUNK_BYTES = 1 << 26  # 64 MiB per chunk of a streamed pass


def mapping_of(array) -> mmap.mmap | None:
    """The ``mmap`` behind a (view of a) memory-mapped array, else None."""
    base = array
    while base is not None:
        own = getattr(base, "_mmap", None)
        if isinstance(own, mmap.mmap):
            return own
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None)
    return None


def release_pages(array) -> None:
    """Drop the resident pages of a memory-mapped array (they stay in the page cache); no-op otherwise."""
    mapped = mapping_of(array)
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mapped.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # closed, or not supported: only the memory accounting is affected
            pass


def row_chunks(array: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
    """Consecutive C-contiguous blocks of rows of ``array`` (in memory), releasing mapped pages as it goes."""
    row = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.itemsize) if array.ndim else 1
    step = max(1, chunk_bytes // row)
    n = len(array) if array.ndim else 1
    for start in range(0, n, step):
        yield np.ascontiguousarray(array[start : start + step] if array.ndim else array)
        release_pages(array)


def write_npy(fh, array: np.ndarray) -> None:
    """Write ``array`` to the open binary file ``fh`` in ``.npy`` format (the bytes ``np.save`` writes), in chunks."""
    if mapping_of(array) is None or array.ndim == 0 or array.dtype.hasobject:
        np.save(fh, np.ascontiguousarray(array))
        return
    header = np.lib.format.header_data_from_array_1_0(array)
    header["fortran_order"] = False
    np.lib.format.write_array_header_1_0(fh, header)
    for block in row_chunks(array):
        fh.write(memoryview(block).cast("B"))
