"""Training loop with per-epoch checkpoints, exact resume, and batched inference.

Determinism: the weights are initialised from ``seed``; each epoch draws its shuffling order and
dropout masks from generators seeded by ``(seed, epoch)``. A run resumed after epoch ``e`` therefore
replays epochs ``e+1..`` exactly as an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import tasks
from .errors import UserError
from .io import atomic_path
from .loader import DeviceBatches, index_batches
from .preprocess import to_model_input


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config 'device: cuda' but no CUDA device is visible; set 'device: auto' or 'cpu'")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Normaliser:
    """Turns stored samples into normalised model inputs."""

    mean: list
    std: list
    pixel_scale: float

    def __call__(self, samples: np.ndarray) -> torch.Tensor:
        return to_model_input(samples, self.mean, self.std, self.pixel_scale)


def shuffled_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """The labels permuted across samples under ``seed`` (the data randomisation test of Adebayo et al.
    2018: a model that can only memorise; the class frequencies are kept)."""
    labels = np.asarray(labels)
    return labels[np.random.default_rng(seed).permutation(len(labels))]


def batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    samples: np.ndarray,
    normalise: Normaliser,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    amp: str = "off",
) -> torch.Tensor:
    """Logits for every sample (eval mode, batched through the input path); a CPU float32 tensor (N, classes).

    ``samples`` may be a memory map of any size: only a few batches are in memory at a time."""
    model.eval()
    out = []
    with autocast(device, amp):
        for xb, _ in DeviceBatches(samples, index_batches(len(samples), batch_size), normalise, device):
            out.append(model(xb).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device | str, amp: str | bool, key: str = "train.amp"):
    """Mixed precision for the block: ``bf16`` / ``fp16`` autocast on ``device``, or nothing for ``off``
    (``key`` names the setting in the error message)."""
    if amp in ("off", False, None):  # YAML reads an unquoted `off` as false
        return contextlib.nullcontext()
    if amp not in AMP_DTYPES:
        raise UserError(f"{key} = {amp!r}; choose one of off, bf16, fp16")
    return torch.autocast(device_type=torch.device(device).type, dtype=AMP_DTYPES[amp])


def compiled(model: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (shares the parameters; the state dict stays the model's)."""
    return torch.compile(model) if enabled else model


def loss_and_accuracy(logits: torch.Tensor, labels, task: str | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``task`` (:mod:`posthoc.tasks`; multi-label: label-wise accuracy at 0.5)."""
    spec = tasks.get(task)
    if not spec.multi_label:  # the historical computation, bit for bit
        labels = torch.from_numpy(np.array(labels, dtype=np.int64))
        return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()
    targets = spec.targets(labels)
    return spec.loss(logits, targets).item(), spec.correct(logits, targets).mean().item()


def split_scores(logits: torch.Tensor, labels, task: str | None = None) -> dict:
    """What ``scores.json`` holds per split: ``loss`` and ``accuracy`` (named by ``accuracy_is``), and for a
    multi-label task also ``exact_match`` (share of images with every label right) and ``mean_auc`` (mean
    per-label ROC AUC over the labels present and absent in the split)."""
    spec = tasks.get(task)
    loss, acc = loss_and_accuracy(logits, labels, task)
    out = {"accuracy": acc, "loss": loss, "n": int(len(labels))}
    if spec.multi_label:
        labels = np.asarray(labels)
        probs = spec.probabilities(logits.double()).numpy()
        out["exact_match"] = float((spec.predictions(probs) == labels).all(1).mean())
        from sklearn.metrics import roc_auc_score

        defined = (labels.min(0) == 0) & (labels.max(0) == 1)  # the labels both present and absent in the split
        y, p = labels[:, defined], probs[:, defined]
        if y.shape[1] == 1:  # one column is a binary problem to scikit-learn
            y, p = y[:, 0], p[:, 0]
        out["mean_auc"] = float(roc_auc_score(y, p, average="macro")) if defined.any() else float("nan")
        out["accuracy_is"] = spec.score_name
    return out


def fingerprint(obj) -> str:
    """A stable hash of JSON-able settings, to refuse resuming from a different configuration."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    normalise: Normaliser,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: torch.device,
    resume_path: str | Path | None = None,
    settings_fingerprint: str = "",
    on_epoch: Callable[[dict], None] | None = None,
    amp: str = "off",
    compile: bool = False,
    max_steps: int | None = None,
    task: str | None = None,
) -> pd.DataFrame:
    """Train with Adam and the loss of ``task`` (cross-entropy; binary cross-entropy for multi-label, whose
    ``*_acc`` columns are label-wise accuracies and which adds ``val_auc``, the mean per-label AUC);
    checkpoint every epoch to ``resume_path``; return the history.

    If ``resume_path`` holds a state with the same ``settings_fingerprint``, training continues after
    its last completed epoch. Batches come through the device-ready input path (:mod:`posthoc.loader`):
    with ``amp: off`` on the CPU the result is bit-identical to converting each batch before the
    copy. ``amp`` (``bf16``/``fp16``, GPU) runs forward passes under autocast (fp16 with a gradient
    scaler); ``compile`` wraps the model in ``torch.compile``. ``max_steps`` caps the batches of each
    epoch (benchmarks only).
    """
    device = torch.device(device)
    autocast(device, amp)  # validates the setting before any work
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == "fp16" and device.type == "cuda")
    history: list[dict] = []
    start = 0
    resume_path = Path(resume_path) if resume_path else None
    if resume_path and resume_path.exists():
        state = torch.load(resume_path, map_location=device, weights_only=False)
        if state.get("fingerprint") == settings_fingerprint:
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            if "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            history, start = state["history"], state["epoch"]
            print(f"resuming after epoch {start} from {resume_path}", flush=True)
        else:
            print(f"ignoring {resume_path}: it was written with other settings", flush=True)
    forward = compiled(model, compile)
    x_train, y_train = train
    n = len(y_train)
    spec = tasks.get(task)
    labels_all = spec.targets(np.array(y_train, dtype=np.int64))
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        model.train()
        for m in model.modules():  # frozen BatchNorm layers (train.freeze) keep their running statistics
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                m.eval()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).numpy()
        torch.manual_seed(seed * 100_003 + epoch)  # dropout masks of this epoch
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.float64, device=device)
        steps = index_batches(n, batch_size, order)[:max_steps]
        seen = 0
        batches_in = DeviceBatches(x_train, steps, normalise, device, with_arrays=[labels_all])
        for xb, (yb,) in tqdm(batches_in, desc=f"epoch {epoch + 1}/{epochs}", mininterval=5):
            with autocast(device, amp):
                logits = forward(xb)
                loss = spec.loss(logits, yb)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total_loss += loss.detach().double() * len(yb)  # summed on the device: no sync per step
            correct += spec.correct(logits.detach(), yb).sum()
            seen += len(yb)
        val_scores = split_scores(predict_logits(forward, val[0], normalise, device=device, amp=amp), val[1], task)
        val_loss, val_acc = val_scores["loss"], val_scores["accuracy"]
        row = {
            "epoch": epoch + 1,
            "train_loss": total_loss.item() / seen,
            "train_acc": correct.item() / seen,
            "val_loss": val_loss,
            "val_acc": val_acc,
            **({"val_auc": val_scores["mean_auc"]} if spec.multi_label else {}),
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if resume_path:
            with atomic_path(resume_path) as tmp:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "history": history,
                        "epoch": epoch + 1,
                        "fingerprint": settings_fingerprint,
                        "scaler": scaler.state_dict(),
                    },
                    tmp,
                )
        if on_epoch:
            on_epoch(row)
        print(json.dumps(row), flush=True)
    return pd.DataFrame(history)
