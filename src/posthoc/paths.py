"""Names shared by the on-disk layout: the dataset splits."""

from __future__ import annotations

SPLITS = ("train", "val", "test")
