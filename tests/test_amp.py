"""Mixed precision switches: validated, and bf16 forward passes stay close to float32."""

import numpy as np
import pytest
import torch

from posthoc.errors import UserError
from posthoc.explain import explain
from posthoc.models import CNN1D
from posthoc.train import Normaliser, autocast, fit


def test_unknown_amp_names_the_key():
    with pytest.raises(UserError, match="methods.occlusion.amp = 'half'"):
        autocast("cpu", "half", "methods.occlusion.amp")
    with autocast("cpu", False):  # YAML's unquoted off
        assert not torch.is_autocast_enabled("cpu")


def test_bf16_training_runs_and_learns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    x = rng.normal(size=(120, 16)).astype(np.float32)
    x[np.arange(120), y * 4] += 3.0
    torch.manual_seed(0)
    model = CNN1D(1, 3, 16, channels=(4, 4), dropout=0.0)
    history = fit(
        model,
        (x, y),
        (x[:30], y[:30]),
        Normaliser([0.0], [1.0], 1.0),
        epochs=6,
        batch_size=32,
        lr=1e-2,
        weight_decay=0.0,
        seed=0,
        device=torch.device("cpu"),
        amp="bf16",
    )
    assert history["train_acc"].iloc[-1] > 0.6
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: weights stay float32


def test_occlusion_under_bf16_is_close_to_float32():
    torch.manual_seed(0)
    model = CNN1D(1, 3, 24, channels=(8, 8)).eval()
    x, t = torch.randn(4, 1, 24), torch.tensor([0, 1, 2, 0])
    ref = explain("occlusion", model, x, t, [], window=4, stride=2, batch_size=16).maps
    with autocast("cpu", "bf16"):
        low = explain("occlusion", model, x, t, [], window=4, stride=2, batch_size=16).maps
    assert low.float().shape == ref.shape
    assert torch.allclose(low.float(), ref, atol=2e-2)
