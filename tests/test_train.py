import numpy as np
import pytest
import torch

from posthoc.models import CNN1D
from posthoc.train import Normaliser, fingerprint, fit, select_device


def toy_data(n=120, length=16, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, length)).astype(np.float32)
    x[np.arange(n), y * 4] += 3.0  # a class-dependent bump: learnable
    return x, y


def run(epochs, resume=None, stop_after=None, seed=5):
    torch.manual_seed(seed)
    model = CNN1D(1, 3, 16, channels=(4, 4), dropout=0.3)
    x, y = toy_data()

    def on_epoch(row):
        if stop_after is not None and row["epoch"] == stop_after:
            raise KeyboardInterrupt

    history = fit(
        model,
        (x, y),
        toy_data(30, seed=1),
        Normaliser([0.0], [1.0], 1.0),
        epochs=epochs,
        batch_size=32,
        lr=1e-2,
        weight_decay=1e-5,
        seed=seed,
        device=torch.device("cpu"),
        resume_path=resume,
        settings_fingerprint="s",
        on_epoch=on_epoch,
    )
    return model, history


def test_training_learns_and_is_deterministic():
    m1, h1 = run(4)
    m2, h2 = run(4)
    assert h1["train_acc"].iloc[-1] > 0.6
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    assert h1[cols].equals(h2[cols])
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    resume = tmp_path / ".resume.pt"
    with pytest.raises(KeyboardInterrupt):
        run(5, resume=resume, stop_after=2)
    assert resume.exists()
    resumed, h_resumed = run(5, resume=resume)
    straight, h_straight = run(5)
    assert h_resumed["epoch"].tolist() == [1, 2, 3, 4, 5]  # no repeated or lost epoch
    cols = ["train_loss", "train_acc", "val_loss", "val_acc"]
    np.testing.assert_array_equal(h_resumed[cols].to_numpy(), h_straight[cols].to_numpy())
    assert all(torch.equal(a, b) for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()))


def test_resume_state_from_other_settings_is_ignored(tmp_path):
    resume = tmp_path / ".resume.pt"
    torch.save({"fingerprint": "other", "epoch": 3, "history": []}, resume)
    _, history = run(2, resume=resume)
    assert history["epoch"].tolist() == [1, 2]


def test_fingerprint_is_stable_and_sensitive():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_cuda_request_without_gpu_is_explained():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="device: cuda"):
        select_device("cuda")
    assert select_device("auto").type == "cpu"
