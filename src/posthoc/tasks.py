"""What a dataset's task decides, in one place: how logits become probabilities, which loss trains the
model, which score stands for "accuracy", and how a model's explained target is chosen.

* ``multi-class``: one class per image; labels int64 ``(N,)``; softmax, cross-entropy, accuracy of the argmax.
* ``multi-label``: any number of labels per image (e.g. MedMNIST ChestMNIST); labels int64 0/1 ``(N, L)``;
  sigmoid per label, binary cross-entropy with logits, and label-wise (Hamming) accuracy at threshold 0.5
  (the share of correct yes/no decisions over all images and labels) as the running score.

Every stage reads the task from ``meta.json`` or the checkpoint's info (``task``) and asks :func:`get`. The
module imports torch only when a method needs it: the data layer and the workflow's parsing read the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

MULTI_CLASS, MULTI_LABEL = "multi-class", "multi-label"
THRESHOLD = 0.5  # probability at which a multi-label prediction says "present"


@dataclass(frozen=True)
class Task:
    name: str
    score_name: str  # what the ``accuracy`` columns and keys hold

    @property
    def multi_label(self) -> bool:
        return self.name == MULTI_LABEL

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes (multi-class) or a sigmoid per label (multi-label), along dim 1."""
        import torch

        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, 1)

    def targets(self, labels) -> torch.Tensor:
        """Labels as the loss takes them: int64 class indices, or float 0/1 ``(N, L)``."""
        import torch

        labels = torch.as_tensor(np.asarray(labels))
        return labels.float() if self.multi_label else labels.long()

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy, or mean binary cross-entropy over images and labels."""
        import torch.nn.functional as F

        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
        return F.cross_entropy(logits, targets)

    def correct(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per image: 1/0 for a right argmax, or the share of labels decided right at ``THRESHOLD``."""
        import torch

        if self.multi_label:
            return ((logits > 0) == (targets > 0.5)).to(torch.float64).mean(1)
        return (logits.argmax(1) == targets).to(torch.float64)

    def predictions(self, probs: np.ndarray) -> np.ndarray:
        """Predicted class (N,), or 0/1 per label (N, L) at ``THRESHOLD``."""
        return (probs >= THRESHOLD).astype(np.int64) if self.multi_label else probs.argmax(1)

    def explained(self, labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per image, the "true" and the "predicted" class that the explanation studies explain, int64 ``(N,)``.

        Multi-class: the label and the top class. Multi-label: the top-scoring label the image carries (the
        top-scoring one when it carries none) and the top-scoring label, so an image counts as correctly
        classified when the model's top label is one it carries.
        """
        probs = np.asarray(probs)
        top = probs.argmax(1).astype(np.int64)
        if not self.multi_label:
            return np.asarray(labels).reshape(len(probs), -1)[:, 0].astype(np.int64), top
        carried = np.asarray(labels).astype(bool)
        true = np.where(carried.any(1), np.where(carried, probs, -np.inf).argmax(1), top)
        return true.astype(np.int64), top


TASKS = {
    MULTI_CLASS: Task(MULTI_CLASS, "accuracy"),
    MULTI_LABEL: Task(MULTI_LABEL, "label-wise (Hamming) accuracy at threshold 0.5"),
}


def get(name: str | None) -> Task:
    """The task called ``name`` (``None``: multi-class, as in files written before tasks were recorded)."""
    name = name or MULTI_CLASS
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]
