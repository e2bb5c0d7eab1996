"""Rule import_model: an existing model (``model.checkpoint``) as a state dict or a TorchScript file, checked,
written in the study's checkpoint format and scored; the methods declared to work on TorchScript give the same
maps on the compiled model as on the eager one; the config refuses the others before any job."""

import copy
import json

import pytest
import torch
import yaml
from torch import nn

from posthoc import io
from posthoc.config import ConfigError, validate_config
from posthoc.data import load_split, prepare
from posthoc.eda import dataset_stats
from posthoc.errors import UserError
from posthoc.explain import METHODS, explain
from posthoc.models import build_model, load_checkpoint
from posthoc.stages import import_model
from posthoc.stages.train import score_splits
from posthoc.train import Normaliser

from conftest import TEST_CONFIG

MODEL = {"arch": "vgg7", "width": 0.25, "explain_layers": "rectified", "pretrained_normalisation": "dataset"}
SPEC = {
    "kind": "blockdigits",
    "image_size": 32,
    "n_train": 40,
    "n_val": 12,
    "n_test": 12,
    "digit_size": [12, 16],
    "distractor_size": 6,
}
PARAMS = {
    "integrated_gradients": {"steps": 4},
    "occlusion": {"window": 8, "stride": 4},
    "lime": {"n_samples": 16, "kernel_size": 2, "max_dist": 10, "ratio": 0.5},
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare("digits", SPEC, root / "data", seed=0)
    io.save_json(root / "stats.json", dataset_stats(root / "data"))
    return root


def user_model(n_classes=10):
    torch.manual_seed(1)
    return build_model("vgg7", 3, n_classes, (32, 32), width=0.25).eval()


def tiny(n_classes=10):
    """A small CNN whose code the study does not know (as a user's TorchScript model would be)."""
    torch.manual_seed(2)
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, n_classes)).eval()


def take_in(prepared, tmp_path, source):
    out = tmp_path / "model"
    return out, import_model.run(
        dataset="digits",
        meta=str(prepared / "data" / "meta.json"),
        stats=str(prepared / "stats.json"),
        checkpoint=str(out / "checkpoint.pt"),
        scores=str(out / "scores.json"),
        model={**MODEL, "checkpoint": str(source)},
        seed=0,
        device="cpu",
    )


def test_state_dict_is_taken_in_and_scored(prepared, tmp_path):
    user = user_model()
    torch.save({"state_dict": user.state_dict()}, tmp_path / "mine.pth")
    out, scores = take_in(prepared, tmp_path, tmp_path / "mine.pth")
    model, info = load_checkpoint(out / "checkpoint.pt")
    assert all(torch.equal(v, user.state_dict()[k]) for k, v in model.state_dict().items())
    assert info["epochs"] == 0 and info["source"] == str(tmp_path / "mine.pth") and info["task"] == "multi-class"
    assert info["layers"] and json.loads((out / "scores.json").read_text()) == scores
    assert set(scores) == {"train", "val", "test"} and scores["test"]["n"] == 12


def test_state_dict_that_does_not_fit_names_the_file_and_the_key(prepared, tmp_path):
    torch.save(user_model(n_classes=3).state_dict(), tmp_path / "three.pth")
    with pytest.raises(UserError, match=r"model\.checkpoint: .*three\.pth does not fit vgg7"):
        take_in(prepared, tmp_path, tmp_path / "three.pth")
    with pytest.raises(UserError, match=r"model\.checkpoint: .*absent\.pth does not exist"):
        take_in(prepared, tmp_path, tmp_path / "absent.pth")


def test_scripted_model_is_taken_in_whole_and_explained_exactly(prepared, tmp_path):
    user = tiny()
    torch.jit.save(torch.jit.script(user), tmp_path / "scripted.pt")
    out, scores = take_in(prepared, tmp_path, tmp_path / "scripted.pt")
    scripted, info = load_checkpoint(out / "checkpoint.pt")
    assert isinstance(scripted, torch.jit.ScriptModule) and info["arch"] == "torchscript" and info["layers"] == []
    normalise = Normaliser(info["mean"], info["std"], info["pixel_scale"])
    splits = {s: load_split(prepared / "data", s) for s in ("train", "val", "test")}
    assert scores == score_splits(user, splits, normalise, None, "cpu")  # scored as the eager model is
    x, target = torch.randn(3, 3, 32, 32), torch.tensor([0, 4, 9])
    torch.testing.assert_close(scripted(x), user(x), rtol=0, atol=0)
    supported = sorted(m for m, traits in METHODS.items() if traits.torchscript)
    assert supported == ["integrated_gradients", "lime", "occlusion", "saliency"]
    for method in supported:  # the same maps as on the eager model, exactly
        ours = explain(method, scripted, x, target, [], **PARAMS.get(method, {}))
        eager = explain(method, user, x, target, [], **PARAMS.get(method, {}))
        torch.testing.assert_close(ours.maps, eager.maps, rtol=0, atol=0, msg=method)
    # guided backpropagation would run on the compiled model, but without its ReLU rule: other maps, hence refused
    assert not METHODS["guided_backprop"].torchscript
    guided = explain("guided_backprop", scripted, x, target, []).maps
    assert not torch.allclose(guided, explain("guided_backprop", user, x, target, []).maps)


def test_traced_model_scores_as_its_state_dict(prepared, tmp_path):
    user = user_model()
    torch.jit.save(torch.jit.trace(user, torch.randn(2, 3, 32, 32)), tmp_path / "traced.pt")
    torch.save(user.state_dict(), tmp_path / "plain.pth")
    _, traced = take_in(prepared, tmp_path / "a", tmp_path / "traced.pt")
    _, plain = take_in(prepared, tmp_path / "b", tmp_path / "plain.pth")
    assert traced == plain


def test_torchscript_model_with_the_wrong_output_is_refused(prepared, tmp_path):
    torch.jit.save(torch.jit.script(tiny(n_classes=3)), tmp_path / "three.pt")
    with pytest.raises(UserError, match=r"model\.checkpoint: the TorchScript model .*three\.pt returns \(2, 3\)"):
        take_in(prepared, tmp_path, tmp_path / "three.pt")


def test_config_refuses_layer_methods_for_a_torchscript_checkpoint(tmp_path):
    torch.jit.save(torch.jit.script(tiny()), tmp_path / "scripted.pt")
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["datasets"] = {"blockdigits": config["datasets"]["blockdigits"]}
    config["datasets"]["blockdigits"]["model"] = {"arch": "vgg7", "checkpoint": str(tmp_path / "scripted.pt")}
    with pytest.raises(ConfigError) as err:
        validate_config(copy.deepcopy(config))
    msg = str(err.value)
    assert "datasets.blockdigits.model.checkpoint" in msg and "TorchScript" in msg and "gradcam" in msg
    assert "torch.save(model.state_dict(), path)" in msg and "model.arch" in msg
    config["methods"] = {m: config["methods"][m] for m in ("saliency", "integrated_gradients", "occlusion", "lime")}
    validate_config(config)
