import numpy as np
import pytest
import torch
from torch import nn

from posthoc.models import VGG7, AlexNet128, CNN1D, build_model, explainable_layers, load_checkpoint, save_checkpoint


def feature_shapes(model, x):
    shapes = []
    for m in model.features:
        x = m(x)
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            shapes.append(tuple(x.shape[1:]))
    return shapes


def test_alexnet128_matches_seed000_section3_shapes():
    model = AlexNet128(3, 9, width=1.0)
    shapes = feature_shapes(model, torch.zeros(1, 3, 128, 128))
    assert shapes == [
        (64, 64, 64),
        (64, 31, 31),
        (192, 31, 31),
        (192, 15, 15),
        (384, 15, 15),
        (256, 15, 15),
        (256, 15, 15),
        (256, 7, 7),
    ]
    assert model.classifier[1].in_features == 256 * 6 * 6 and model.classifier[1].out_features == 4096
    assert model(torch.zeros(2, 3, 128, 128)).shape == (2, 9)


def test_width_multiplier_scales_every_layer():
    model = AlexNet128(1, 4, width=0.25)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 48, 96, 64, 64]
    assert model.classifier[-1].in_features == 1024
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 4)


def test_explainable_layers_are_the_rectified_convs_or_the_convs_in_order():
    model = AlexNet128(3, 2, width=0.1)
    layers = explainable_layers(model)
    assert layers == ["features.1", "features.4", "features.7", "features.9", "features.11"]
    assert all(isinstance(model.get_submodule(name), nn.ReLU) for name in layers)
    conv = explainable_layers(model, "conv")
    assert conv == ["features.0", "features.3", "features.6", "features.8", "features.10"]
    assert all(isinstance(model.get_submodule(name), nn.Conv2d) for name in conv)
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in model.modules())
    with pytest.raises(ValueError, match="explain_layers"):
        explainable_layers(model, "pre")


def test_vgg7_layout():
    model = VGG7(3, 8)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 7 and [c.out_channels for c in convs] == [32, 32, 64, 64, 128, 128]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert model(torch.zeros(2, 3, 150, 150)).shape == (2, 8)
    assert explainable_layers(model) == [
        "features.2",
        "features.5",
        "features.9",
        "features.12",
        "features.16",
        "features.19",
    ]
    with torch.no_grad():
        assert model.features(torch.zeros(1, 3, 150, 150)).shape == (1, 128, 18, 18)
    gap = VGG7(3, 8, gap=True)
    assert gap.pooled_layer == "features" and gap(torch.zeros(2, 3, 150, 150)).shape == (2, 8)


@pytest.mark.parametrize(
    "arch, layers",
    [
        ("vgg16", [f"features.{i}" for i in (1, 3, 6, 8, 11, 13, 15, 18, 20, 22, 25, 27, 29)]),
        ("resnet18", ["layer1", "layer2", "layer3", "layer4"]),
        ("densenet121", [f"features.denseblock{i}" for i in range(1, 5)]),
    ],
)
def test_torchvision_layers_and_head(arch, layers):
    model = build_model(arch, 1, 7, (32, 32))
    assert explainable_layers(model) == layers
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)
    assert not any(isinstance(m, nn.ReLU) and m.inplace for m in model.modules())


def test_torchvision_weights_file_errors_name_the_file(tmp_path):
    import torchvision

    from posthoc.errors import UserError

    with pytest.raises(UserError, match="model.weights: .*missing.pth does not exist"):
        build_model("resnet18", 3, 4, (32, 32), weights=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "vgg11.pth"
    torch.save(torchvision.models.vgg11().state_dict(), wrong)
    with pytest.raises(UserError, match="vgg11.pth does not fit resnet18"):
        build_model("resnet18", 3, 4, (32, 32), weights=str(wrong))
    good = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), good)
    model = build_model("resnet18", 1, 4, (32, 32), weights=str(good))
    assert torch.equal(model.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)
    assert torch.equal(model.conv1.weight, reference.conv1.weight.sum(1, keepdim=True))  # greyscale first conv
    assert model.fc.out_features == 4


def test_cnn1d_shapes_and_layers():
    model = CNN1D(1, 10, length=40, channels=(8, 16, 4), kernel_size=5, stride=2)
    assert model(torch.zeros(3, 1, 40)).shape == (3, 10)
    assert explainable_layers(model) == ["features.1", "features.3", "features.5"]
    assert explainable_layers(model, "conv") == ["features.0", "features.2", "features.4"]


def test_build_model_rejects_wrong_rank():
    with pytest.raises(ValueError, match="alexnet128.*2-D images"):
        build_model("alexnet128", 1, 10, (40,))
    with pytest.raises(ValueError, match="cnn1d.*1-D signals"):
        build_model("cnn1d", 3, 10, (64, 64))
    with pytest.raises(ValueError, match="unknown model.arch 'vgg'"):
        build_model("vgg", 3, 10, (64, 64))


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = build_model("alexnet128", 3, 5, (48, 48), width=0.1).eval()
    info = {
        "arch": "alexnet128",
        "arch_kwargs": {"width": 0.1},
        "class_names": list("abcde"),
        "in_channels": 3,
        "input_shape": [48, 48],
        "mean": [0.5] * 3,
        "std": [0.2] * 3,
        "pixel_scale": 255.0,
        "layers": explainable_layers(model),
    }
    path = tmp_path / "m" / "checkpoint.pt"
    save_checkpoint(path, model, info)
    loaded, loaded_info = load_checkpoint(path)
    x = torch.randn(2, 3, 48, 48)
    assert torch.equal(model(x), loaded(x))
    assert loaded_info == info and not loaded.training
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temporary left behind


def test_load_checkpoint_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        load_checkpoint(tmp_path / "nothere.pt")


@pytest.mark.parametrize(
    "arch, kw, shape", [("alexnet128", {"width": 0.1}, (48, 48)), ("cnn1d", {}, (40,)), ("resnet18", {}, (32, 32))]
)
def test_frozen_feature_gap_model_fits_and_roundtrips(tmp_path, arch, kw, shape):
    from posthoc.models import fit_head, gap_model

    torch.manual_seed(0)
    c = 1 if len(shape) == 1 else 3
    base = build_model(arch, c, 3, shape, **kw).eval()
    layer = explainable_layers(base)[-1]
    gap = gap_model(base, layer, c, shape, 3)
    x = torch.randn(30, c, *shape)
    with torch.no_grad():
        feats = gap.trunk(x).flatten(2).mean(2)
    labels = feats[:, :3].argmax(1).numpy()  # learnable from the pooled features by construction
    before = {k: v.clone() for k, v in base.state_dict().items()}
    rows = fit_head(
        gap.head, feats, labels, (feats, labels), epochs=60, batch_size=10, lr=0.05, weight_decay=0.0, seed=0
    )
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] and rows[-1]["val_acc"] >= 0.8
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # the features stay frozen
    info = {
        "arch": arch,
        "arch_kwargs": kw,
        "class_names": list("abc"),
        "in_channels": c,
        "input_shape": list(shape),
        "mean": [0.0] * c,
        "std": [1.0] * c,
        "pixel_scale": 1.0,
        "layers": ["trunk"],
        "gap_layer": layer,
    }
    save_checkpoint(tmp_path / "gap.pt", gap.eval(), info)
    loaded, _ = load_checkpoint(tmp_path / "gap.pt")
    assert loaded.pooled_layer == "trunk" and torch.allclose(loaded(x), gap(x), atol=1e-6)


def test_multi_label_gap_head_trains_with_binary_cross_entropy():
    """CAM's head of a multi-label model: one full-batch Adam step equals one taken by hand on the binary
    cross-entropy with logits, and the history reports that loss, label-wise accuracy and the mean AUC."""
    import torch.nn.functional as F

    from posthoc.models import fit_head

    torch.manual_seed(0)
    feats = torch.randn(40, 6)
    labels = (feats[:, :3] > 0).numpy().astype(np.int64)  # (N, 3) 0/1, learnable from the features
    head, by_hand = nn.Linear(6, 3), nn.Linear(6, 3)
    by_hand.load_state_dict(head.state_dict())
    rows = fit_head(
        head,
        feats,
        labels,
        (feats, labels),
        epochs=1,
        batch_size=40,
        lr=0.1,
        weight_decay=0.0,
        seed=0,
        task="multi-label",
    )
    opt = torch.optim.Adam(by_hand.parameters(), lr=0.1)
    F.binary_cross_entropy_with_logits(by_hand(feats), torch.as_tensor(labels).float()).backward()
    opt.step()
    torch.testing.assert_close(head.weight, by_hand.weight)
    with torch.no_grad():
        logits = head(feats)
        loss = F.binary_cross_entropy_with_logits(logits, torch.as_tensor(labels).float()).item()
    assert rows[0]["val_loss"] == pytest.approx(loss, rel=1e-6)
    assert rows[0]["val_acc"] == pytest.approx(((logits > 0).numpy() == labels).mean(), rel=1e-9)
    assert 0 <= rows[0]["val_auc"] <= 1
    rows = fit_head(
        head,
        feats,
        labels,
        (feats, labels),
        epochs=40,
        batch_size=10,
        lr=0.05,
        weight_decay=0.0,
        seed=0,
        task="multi-label",
    )
    assert rows[-1]["val_acc"] >= 0.9 and rows[-1]["val_auc"] >= 0.95


def test_existing_model_is_scored_not_trained(tmp_path):
    """model.checkpoint: rule import_model loads the user's state dict, writes it as our checkpoint and scores it."""
    import json

    import numpy as np
    import torchvision

    from posthoc import io
    from posthoc.data import layout
    from posthoc.errors import UserError
    from posthoc.stages import import_model

    rng = np.random.default_rng(0)
    splits = {
        s: {"images": rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8), "labels": np.arange(n) % 3}
        for s, n in (("train", 12), ("val", 6), ("test", 6))
    }
    data_dir = tmp_path / "data"
    layout.write_dataset(data_dir, "toy", "imagefolder", splits, ["a", "b", "c"], source="test", params={})
    io.save_json(tmp_path / "stats.json", {"mean": [0.5] * 3, "std": [0.25] * 3, "pixel_scale": 255.0})
    torch.manual_seed(1)
    user = torchvision.models.resnet18(num_classes=3)
    torch.save(user.state_dict(), tmp_path / "mine.pth")
    out = {k: str(tmp_path / "model" / f) for k, f in (("c", "checkpoint.pt"), ("s", "scores.json"))}
    cfg = {"arch": "resnet18", "checkpoint": str(tmp_path / "mine.pth"), "explain_layers": "rectified"}
    common = dict(
        dataset="toy",
        meta=str(data_dir / "meta.json"),
        stats=str(tmp_path / "stats.json"),
        checkpoint=out["c"],
        scores=out["s"],
        seed=0,
        device="cpu",
    )
    import_model.run(model=cfg, **common)
    model, info = load_checkpoint(out["c"])
    x = torch.randn(2, 3, 32, 32)
    user.eval()
    assert torch.allclose(model(x), user(x), atol=1e-6) and info["epochs"] == 0
    assert info["layers"] == ["layer1", "layer2", "layer3", "layer4"]
    assert set(json.loads(open(out["s"]).read())) == {"train", "val", "test"}
    with pytest.raises(UserError, match="model.checkpoint: .*mine.pth does not fit resnet34"):
        import_model.run(model={**cfg, "arch": "resnet34"}, **common)
