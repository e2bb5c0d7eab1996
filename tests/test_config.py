import copy
import re
from pathlib import Path

import pytest
import yaml

from posthoc.config import ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "config.yaml").read_text())
BLOCKDIGITS = yaml.safe_load((ROOT / "configs" / "blockdigits.yaml").read_text())


def rejected(mutate, base=BASE):
    config = copy.deepcopy(base)
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    return str(err.value)


@pytest.mark.parametrize("path", ["config.yaml", "configs/test.yaml", "configs/paper.yaml", "configs/blockdigits.yaml"])
def test_shipped_configs_are_valid(path):
    config = load_config(ROOT / path)
    assert config["datasets"]


@pytest.mark.parametrize(
    "path, missing",
    [
        ("configs/hmt.yaml", "datasets.hmt.data.root: folder data/kather2016"),
        ("configs/transfer.yaml", "datasets.pathmnist.model.weights"),
    ],
)
def test_configs_of_data_and_weights_not_shipped_name_the_missing_file(path, missing):
    with pytest.raises(ConfigError, match=re.escape(missing)):
        load_config(ROOT / path)


def test_defaults_are_filled_in():
    config = validate_config(
        {
            "datasets": {
                "d": {"data": {"kind": "mnist1d"}, "model": {"arch": "cnn1d"}, "train": {"epochs": 1, "batch_size": 8}}
            }
        }
    )
    assert config["seed"] == 0 and config["device"] == "auto"
    assert config["methods"] == {"gradcam": {"target": "predicted"}}
    assert config["datasets"]["d"]["faithfulness"]["keep_percent"] == 30
    assert config["datasets"]["d"]["model"]["channels"] == [32, 32, 32]
    assert config["datasets"]["d"]["train"]["lr"] == 0.001


def test_unknown_dataset_kind_is_named():
    msg = rejected(lambda c: c["datasets"]["mnist1d"]["data"].update(kind="cifar"))
    assert "datasets.mnist1d.data.kind" in msg and "'cifar' is not one of" in msg


def test_wrong_type_is_named():
    msg = rejected(lambda c: c["datasets"]["blockdigits"]["train"].update(batch_size="big"), BLOCKDIGITS)
    assert "datasets.blockdigits.train.batch_size" in msg and "not of type 'integer'" in msg


def test_negative_count_is_named():
    msg = rejected(lambda c: c["datasets"]["blockdigits"]["data"].update(n_train=-5), BLOCKDIGITS)
    assert "datasets.blockdigits.data.n_train" in msg and "minimum" in msg


@pytest.mark.parametrize("value", [0, -10, 100.5, 250])
def test_percentage_outside_range_is_named(value):
    msg = rejected(lambda c: c["datasets"]["mnist1d"]["faithfulness"].update(keep_percent=value))
    assert "datasets.mnist1d.faithfulness.keep_percent" in msg


def test_misspelt_key_is_named():
    msg = rejected(lambda c: c["datasets"]["mnist1d"]["train"].update(epoch=3))
    assert "datasets.mnist1d.train.epoch" in msg and "unexpected" in msg


def test_unknown_method_is_named():
    msg = rejected(lambda c: c.update(methods={"smoothgrad": {}}))
    assert "methods.smoothgrad" in msg


def test_missing_section_is_named():
    msg = rejected(lambda c: c["datasets"]["mnist1d"].pop("model"))
    assert "datasets.mnist1d.model" in msg and "required" in msg


def test_architecture_must_fit_the_data():
    msg = rejected(lambda c: c["datasets"]["mnist1d"].update(model={"arch": "alexnet128"}))
    assert "datasets.mnist1d.model.arch" in msg and "cnn1d" in msg


def test_dataset_values_the_kind_cannot_build_are_named_before_any_job():
    msg = rejected(
        lambda c: c["datasets"]["blockdigits"]["data"].update(digit_size=[24, 60], distractor_size=14), BLOCKDIGITS
    )
    assert "datasets.blockdigits.data" in msg and "must fit in image_size" in msg
    msg = rejected(lambda c: c["datasets"]["mnist1d"]["data"].update(n_val=100000))
    assert "datasets.mnist1d.data.n_val" in msg


def test_medmnist_flag_and_size_are_checked_when_the_config_is_read():
    paper = load_config(ROOT / "configs/paper.yaml")
    name = next(n for n, d in paper["datasets"].items() if d["data"]["kind"] == "medmnist")
    for change, expected in [
        ({"flag": "organmnist3d"}, "3-D"),
        ({"flag": "nosuchmnist"}, "is not a MedMNIST dataset"),
        ({"size": 100}, "is not one of"),
    ]:
        config = copy.deepcopy(paper)
        config["datasets"][name]["data"].update(change)
        with pytest.raises(ConfigError) as err:
            validate_config(config)
        assert f"datasets.{name}.data." in str(err.value) and expected in str(err.value)


def test_multi_label_dataset_takes_every_method():
    paper = load_config(ROOT / "configs/paper.yaml")
    name = next(n for n, d in paper["datasets"].items() if d["data"]["kind"] == "medmnist")
    paper["datasets"][name]["data"]["flag"] = "chestmnist"
    assert {"cam", "occlusion", "lime", "saliency"} <= set(validate_config(paper)["methods"])


def test_default_study_has_the_tissue_dataset_and_no_blockdigits():
    kinds = {name: d["data"]["kind"] for name, d in load_config(ROOT / "config.yaml")["datasets"].items()}
    assert kinds == {"mnist1d": "mnist1d", "tissue": "ihc"}
    assert {d["data"]["kind"] for d in load_config(ROOT / "configs/blockdigits.yaml")["datasets"].values()} == {
        "blockdigits"
    }


def test_occlusion_windows_are_in_the_datasets_own_units():
    config = validate_config(copy.deepcopy(BASE))
    assert config["datasets"]["mnist1d"]["occlusion"]["window"] < 40  # samples of the 40-sample signal
    paper = load_config(ROOT / "configs/paper.yaml")
    for ds in paper["datasets"].values():  # seed 000's values at 128 px (the schema's defaults)
        assert ds["occlusion"]["window"] == 32 and ds["occlusion"]["stride"] == 10
        assert [s["window"] for s in ds["occlusion"]["sweep"]] == [32, 64, 80, 90]
    msg = rejected(lambda c: c["datasets"]["mnist1d"].pop("occlusion"))  # the 128-px defaults on 40 samples
    assert "datasets.mnist1d.occlusion.sweep[1].window': 64" in msg  # 32 < 40 passes, 64 does not
    assert "not smaller than the input (40 samples)" in msg
    msg = rejected(lambda c: c["datasets"]["tissue"]["occlusion"]["sweep"].append({"window": 48, "stride": 4}))
    assert "datasets.tissue.occlusion.sweep[4].window" in msg and "(48 pixels)" in msg


def test_model_defaults_and_architecture_keys():
    config = copy.deepcopy(BLOCKDIGITS)
    config["datasets"]["blockdigits"]["model"] = {"arch": "vgg7"}
    model = validate_config(config)["datasets"]["blockdigits"]["model"]
    assert model["explain_layers"] == "rectified" and model["cam_model"] == "frozen" and model["batch_norm"] is True
    assert "unknown architecture 'resnet9'" in rejected(
        lambda c: c["datasets"]["blockdigits"].update(model={"arch": "resnet9"}), BLOCKDIGITS
    )
    msg = rejected(
        lambda c: c["datasets"]["blockdigits"].update(model={"arch": "resnet18", "weights": "w/r18.pth"}), BLOCKDIGITS
    )
    assert "datasets.blockdigits.model.weights" in msg and "w/r18.pth does not exist" in msg
    msg = rejected(
        lambda c: c["datasets"]["blockdigits"].update(model={"arch": "resnet18", "checkpoint": "mine.pt"}), BLOCKDIGITS
    )
    assert "datasets.blockdigits.model.checkpoint" in msg and "mine.pt does not exist" in msg
    assert "'scratch' needs one of" in rejected(
        lambda c: c["datasets"]["blockdigits"].update(model={"arch": "vgg16", "cam_model": "scratch"}), BLOCKDIGITS
    )
    assert "width" in rejected(
        lambda c: c["datasets"]["blockdigits"].update(model={"arch": "vgg16", "width": 2}), BLOCKDIGITS
    )
