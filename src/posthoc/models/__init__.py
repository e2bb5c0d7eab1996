"""Models: the study's own architectures, torchvision models by name, their explained layers,
CAM's frozen-feature GAP model, and checkpoints (see each submodule)."""

from .architectures import ARCHITECTURES, CNN1D, VGG7, AlexNet128
from .checkpoint import build_model, load_checkpoint, model_from_info, save_checkpoint
from .gap import GAPNet, fit_head, gap_model
from .layers import EXPLAIN_LAYERS, explainable_layers

__all__ = [
    "ARCHITECTURES",
    "CNN1D",
    "VGG7",
    "AlexNet128",
    "EXPLAIN_LAYERS",
    "GAPNet",
    "build_model",
    "explainable_layers",
    "fit_head",
    "gap_model",
    "load_checkpoint",
    "model_from_info",
    "save_checkpoint",
]
