"""MedMNIST v2/v3 2-D datasets (e.g. PathMNIST @128), from the official npz files.

File name, URL and MD5 come from ``medmnist.INFO[flag]``: ``{flag}.npz`` / ``url`` / ``MD5``
at size 28, ``{flag}_{size}.npz`` / ``url_{size}`` / ``MD5_{size}`` otherwise (as in
``medmnist.dataset.MedMNIST``). The npz holds ``{split}_images`` ((N,H,W,3) or (N,H,W) uint8)
and ``{split}_labels`` ((N,1), or (N,L) 0/1 for the multi-label ChestMNIST: then the prepared labels are
int64 (N,L) and meta ``task`` is ``multi-label``). Members are streamed out of the zip in blocks, so a 4 GB
split is never held in memory.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from urllib.request import urlopen  # module attribute, so tests can monkeypatch it

import numpy as np

from posthoc.data.layout import stratified_subset
from posthoc.errors import DataError, DownloadError
from posthoc.tasks import MULTI_CLASS, MULTI_LABEL

DEFAULTS = {"kind": "medmnist", "flag": "pathmnist", "size": 128, "root": "data/raw", "max_per_split": None}
SIZES = (28, 64, 128, 224)
_BLOCK = 1 << 24  # bytes per read when hashing, downloading and streaming
_SPLIT_STREAM = {"train": 1, "val": 2, "test": 3}

__all__ = ["DEFAULTS", "SIZES", "build", "check", "fetch", "file_info", "md5sum", "download", "task"]


def _info_table() -> dict:
    import medmnist  # imports torch; creates ~/.medmnist as a side effect of medmnist itself

    return medmnist.INFO


def file_info(flag: str, size: int, name: str = "<name>") -> dict:
    """``{filename, url, md5, info}`` for a 2-D MedMNIST ``flag`` at ``size``."""
    key = f"datasets.{name}.data"
    table = _info_table()
    if flag not in table:
        flags = [f for f in table if not _is_3d(f, table[f])]
        raise DataError(f"{key}.flag = {flag!r} is not a MedMNIST dataset; 2-D flags: {', '.join(flags)}")
    info = table[flag]
    if _is_3d(flag, info):
        raise DataError(f"{key}.flag = {flag!r} is a 3-D MedMNIST dataset; only 2-D images are supported")
    if int(size) not in SIZES:
        raise DataError(f"{key}.size = {size!r}; MedMNIST 2-D sizes are {SIZES}")
    suffix = "" if int(size) == 28 else f"_{int(size)}"
    return {"filename": f"{flag}{suffix}.npz", "url": info[f"url{suffix}"], "md5": info[f"MD5{suffix}"], "info": info}


def task(params: dict) -> str:
    """``multi-label`` for MedMNIST's multi-label flags (ChestMNIST), else ``multi-class``."""
    return MULTI_LABEL if "multi-label" in file_info(params["flag"], params["size"])["info"]["task"] else MULTI_CLASS


def input_size(params: dict) -> int:
    """Image side in pixels."""
    return int(params["size"])


def check(name: str, params: dict) -> None:
    """The flag and size name a supported MedMNIST file and ``root`` can hold it (no download, no hashing:
    used when the config is read)."""
    fi = file_info(params["flag"], params["size"], name)
    root = Path(params["root"])
    if root.exists() and not root.is_dir():
        raise DataError(
            f"datasets.{name}.data.root: {root} is a file, not a folder; give the folder that holds "
            f"(or will receive) {fi['filename']}"
        )
    if (root / fi["filename"]).is_dir():
        raise DataError(
            f"datasets.{name}.data.root: {root / fi['filename']} is a folder; it must be the npz "
            f"file {fi['filename']} (or absent, to be downloaded)"
        )


def _is_3d(flag: str, info: dict) -> bool:
    return flag.endswith("3d") or str(info.get("python_class", "")).endswith("3D")


def md5sum(path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest, expected_md5: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` via a temporary name, renamed only once the MD5 matches."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    manual = (
        f"place {dest.name} there by hand: download {url} (MD5 {expected_md5}) and save it as "
        f"{dest.resolve()}, then re-run"
    )
    h = hashlib.md5()
    try:
        with urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(_BLOCK), b""):
                out.write(block)
                h.update(block)
    except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts are OSErrors
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"could not download {dest.name} from {url} ({err}); {manual}") from err
    if h.hexdigest() != expected_md5:
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"downloaded {dest.name} from {url} has MD5 {h.hexdigest()}, expected {expected_md5} "
            f"(truncated or changed upstream); retry, or {manual}"
        )
    tmp.replace(dest)
    return dest


def fetch(flag: str, size: int, root, name: str = "<name>", downloader=download) -> Path:
    """The verified npz for ``flag``/``size`` in ``root``, downloaded if absent."""
    fi = file_info(flag, size, name)
    path = Path(root) / fi["filename"]
    if not path.exists():
        return downloader(fi["url"], path, fi["md5"])
    actual = md5sum(path)
    if actual != fi["md5"]:
        raise DownloadError(
            f"{path} has MD5 {actual}, expected {fi['md5']} (corrupt or partial download); "
            f"delete it so it is re-downloaded, or replace it by hand with {fi['url']}"
        )
    return path


# ---------------------------------------------------------------------------------------
# reading the npz without loading it whole
# ---------------------------------------------------------------------------------------
def _extract_member(npz: zipfile.ZipFile, key: str, dest: Path, path: Path) -> np.ndarray:
    """Stream ``key`` out of the npz into the .npy file ``dest``; return it memory-mapped."""
    member = f"{key}.npy"
    if member not in npz.namelist():
        raise KeyError(f"{path} has no array '{key}' (members: {npz.namelist()}); is it a MedMNIST npz?")
    with npz.open(member) as src:
        version = np.lib.format.read_magic(src)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(src)
        if fortran or dtype.hasobject:
            raise DataError(f"{path}:{key} is not a plain C-ordered array")
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        pos = 0
        with open(dest, "wb") as out:  # through the file, not a writable map: dirty mapped pages would count as RSS
            np.lib.format.write_array_header_1_0(
                out, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            )
            for block in iter(lambda: src.read(_BLOCK), b""):
                out.write(block[: max(0, size - pos)])
                pos += len(block)
        if pos != size:
            raise DataError(f"{path}:{key} is {'truncated' if pos < size else 'too long'} ({pos} of {size} bytes)")
    return np.load(dest, mmap_mode="r")


def _read_split(npz, split: str, workdir: Path, path: Path, size: int, limit, rng, n_labels: int | None) -> dict:
    """One split; ``n_labels`` is the label count of a multi-label flag (``None``: single-label)."""
    images = _extract_member(npz, f"{split}_images", workdir / f"{split}_images.npy", path)
    labels = np.asarray(_extract_member(npz, f"{split}_labels", workdir / f"{split}_labels.npy", path))
    if n_labels is None:
        if labels.ndim == 2 and labels.shape[1] != 1:
            raise DataError(f"{path}: {split}_labels has shape {labels.shape}; expected (N, 1) for this flag")
        labels = labels.reshape(-1).astype(np.int64)
    else:
        if labels.ndim != 2 or labels.shape[1] != n_labels or not np.isin(labels, (0, 1)).all():
            raise DataError(f"{path}: {split}_labels has shape {labels.shape}; expected 0/1 (N, {n_labels})")
        labels = labels.astype(np.int64)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(labels):
        raise DataError(f"{path}: unexpected {split}_images {images.dtype} {images.shape} for {len(labels)} labels")
    if images.shape[1:3] != (size, size):
        raise DataError(f"{path}: {split}_images are {images.shape[1:3]}, expected ({size}, {size})")
    if images.ndim == 3:
        images = images[..., None]  # grayscale -> C=1 (a view)
    if limit is not None and limit < len(labels):
        keep = stratified_subset(labels, int(limit), rng)
        images, labels = np.ascontiguousarray(images[keep]), labels[keep]
    return {"images": images, "labels": labels}


def build(name: str, params: dict, seed: int, workdir):
    """Fetch/verify the npz, then stream each split into ``workdir`` (memory-mapped)."""
    key = f"datasets.{name}.data"
    limit = params.get("max_per_split")
    if limit is not None and int(limit) < 1:
        raise DataError(f"{key}.max_per_split must be a positive integer or null, got {limit}")
    fi = file_info(params["flag"], params["size"], name)
    labels = fi["info"]["label"]
    n_labels = len(labels) if task(params) == MULTI_LABEL else None
    path = fetch(params["flag"], params["size"], params["root"], name)
    workdir = Path(workdir)
    with zipfile.ZipFile(path) as npz:
        splits = {
            split: _read_split(
                npz, split, workdir, path, int(params["size"]), limit, np.random.default_rng([seed, stream]), n_labels
            )
            for split, stream in _SPLIT_STREAM.items()
        }
    class_names = [labels[str(i)] for i in range(len(labels))]
    import medmnist

    source = f"medmnist {medmnist.__version__}: {fi['filename']} (MD5 {fi['md5']}) from {fi['url']}"
    return splits, class_names, source
