"""Bad input is refused early and by name: config paths, image modes, constant channels, failing jobs."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from posthoc import eda
from posthoc.config import ConfigError, validate_config
from posthoc.data import imagefolder as imf
from posthoc.data import prepare
from posthoc.data.layout import write_dataset
from posthoc.errors import DataError, UserError
from posthoc.logs import log_to
from posthoc.preprocess import checked_std, to_model_input
from posthoc.rule import run_rule
from posthoc.stages import data as data_stage

ROOT = Path(__file__).resolve().parents[1]
TEST = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())


def _with_imagefolder(root) -> dict:
    config = copy.deepcopy(TEST)
    config["datasets"] = {
        "tiles": {
            "data": {"kind": "imagefolder", "root": str(root), "image_size": 16},
            "model": {"arch": "alexnet128", "width": 0.0625},
            "train": {"epochs": 1, "batch_size": 8},
        }
    }
    return config


# --- paths a config names are checked when the config is read -------------------------------------------------
def test_missing_imagefolder_root_is_named_at_validation(tmp_path):
    with pytest.raises(ConfigError) as err:
        validate_config(_with_imagefolder(tmp_path / "nope"))
    msg = str(err.value)
    assert "datasets.tiles.data.root" in msg and str(tmp_path / "nope") in msg and "does not exist" in msg
    assert "point datasets.tiles.data.root at a folder of class sub-folders" in msg


def test_imagefolder_root_that_is_a_file_or_has_no_classes_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"datasets\.tiles\.data\.root: folder .*file is a file, not a folder"):
        validate_config(_with_imagefolder(tmp_path / "file"))
    (tmp_path / "flat").mkdir()
    with pytest.raises(ConfigError, match=r"datasets\.tiles\.data\.root: .*flat has no class sub-folders"):
        validate_config(_with_imagefolder(tmp_path / "flat"))


def test_results_and_medmnist_root_that_are_files_are_named(tmp_path):
    (tmp_path / "f").write_text("x")
    config = copy.deepcopy(TEST)
    config["results"] = str(tmp_path / "f")
    with pytest.raises(ConfigError, match=r"'results': .*f is a file, not a folder"):
        validate_config(config)
    config = copy.deepcopy(TEST)
    config["datasets"]["mnist1d"]["data"] = {
        "kind": "medmnist",
        "flag": "pathmnist",
        "size": 28,
        "root": str(tmp_path / "f"),
    }
    config["datasets"]["mnist1d"]["model"] = {"arch": "alexnet128"}
    with pytest.raises(ConfigError, match=r"datasets\.mnist1d\.data\.root: .*f is a file, not a folder"):
        validate_config(config)


def test_snakemake_dry_run_fails_on_a_missing_imagefolder_root(tmp_path):
    from conftest import snakemake

    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(_with_imagefolder("data/no-such-tiles")))
    proc = snakemake(tmp_path, "-n", configfile=configfile, check=False, timeout=120)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "datasets.tiles.data.root" in out and "data/no-such-tiles does not exist" in out
    assert "prepare_data" not in proc.stdout  # no job was planned


# --- image modes ------------------------------------------------------------------------------------------------
def test_sixteen_bit_greyscale_among_rgb_keeps_its_contrast(tmp_path):
    root = tmp_path / "tiles"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (8, 8), (10 * i, 20, 30)).save(root / cls / f"rgb{i}.png")
    ramp = np.tile(np.linspace(0, 65535, 8).round().astype(np.uint16), (8, 1))
    Image.fromarray(ramp).save(root / "a" / "deep.png")
    with Image.open(root / "a" / "deep.png") as img:
        assert img.mode in ("I;16", "I")  # what Pillow makes of a 16-bit PNG
    out = imf.read_image(root / "a" / "deep.png", 8, gray=False)
    np.testing.assert_array_equal(out[..., 0], np.round(ramp / 257.0).astype(np.uint8))
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    meta = prepare(
        "t",
        {"kind": "imagefolder", "root": str(root), "image_size": 8, "val_fraction": 0.2, "test_fraction": 0.2},
        tmp_path / "out",
        seed=0,
    )
    assert meta["channels"] == 3
    images = np.concatenate([np.load(tmp_path / "out" / f"{s}_images.npy") for s in ("train", "val", "test")])
    assert any(np.array_equal(im[..., 0], np.round(ramp / 257.0)) for im in images)  # not a white square


def test_sixteen_bit_greyscale_alone_is_scaled_by_its_range(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.full((4, 4), 300, np.uint16)).save(path)  # dark in 16 bits, not "300 -> 255"
    assert imf.read_image(path, 4, gray=True)[0, 0, 0] == round(300 / 257)


@pytest.mark.parametrize("mode, array", [("F", np.full((4, 4), 0.5, np.float32)), ("I", np.full((4, 4), -5, np.int32))])
def test_modes_without_an_exact_conversion_are_refused_by_name(tmp_path, mode, array):
    path = tmp_path / "odd.tif"
    Image.fromarray(array, mode=mode).save(path)
    with pytest.raises(DataError) as err:
        imf.read_image(path, 4, gray=False)
    assert str(path) in str(err.value) and f"mode {mode!r}" in str(err.value) and "convert it" in str(err.value)


def test_alpha_and_palette_modes_keep_their_colours(tmp_path):
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(tmp_path / "a.png")
    Image.new("RGB", (4, 4), (200, 100, 50)).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    assert imf.read_image(tmp_path / "a.png", 4, gray=False)[0, 0].tolist() == [10, 20, 30]
    assert imf.read_image(tmp_path / "p.png", 4, gray=False)[0, 0].tolist() == [200, 100, 50]


# --- divisions by a statistic -------------------------------------------------------------------------------------
def _constant_channel_dataset(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 20), ("val", 6), ("test", 6)):
        images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
        images[..., 1] = 7  # a constant channel
        splits[split] = {"images": images, "labels": np.arange(n, dtype=np.int64) % 2}
    write_dataset(tmp_path, "const", "imagefolder", splits, ["a", "b"], "test", {})
    return tmp_path


def test_constant_channel_is_centred_not_divided_by_zero(tmp_path):
    datadir = _constant_channel_dataset(tmp_path)
    with pytest.warns(UserWarning, match=r"channel\(s\) \[1\] are constant"):
        stats = eda.dataset_stats(datadir)
    assert stats["std"][1] == 1.0 and stats["constant_channels"] == [1]
    assert stats["std"][0] == pytest.approx(np.load(datadir / "train_images.npy")[..., 0].std() / 255, rel=1e-9)
    test = np.load(datadir / "test_images.npy")
    test[0, ..., 1] = 255  # a test image whose constant channel differs stays bounded
    x = to_model_input(test, stats["mean"], stats["std"], stats["pixel_scale"])
    assert torch.isfinite(x).all() and x[:, 1].abs().max() <= 1.0
    assert float(x[1:, 1].abs().max()) == 0.0


@pytest.mark.parametrize("std", [[0.2, 0.0, 0.3], [float("nan")], [-1.0], [float("inf")]])
def test_a_std_that_would_give_nan_is_refused(std):
    with pytest.raises(UserError, match="re-run the eda step"):
        checked_std(std)
    with pytest.raises(UserError):
        to_model_input(np.zeros((1, 2, 2, len(std)), np.uint8), [0.0] * len(std), std, 255.0)


# --- a failing job ends with one sentence ------------------------------------------------------------------------
def _fake_job(tmp_path, spec) -> SimpleNamespace:
    return SimpleNamespace(
        input={},
        output={"arrays": [], "meta": str(tmp_path / "out" / "meta.json")},
        wildcards={"dataset": "tiles"},
        params={"spec": spec, "seed": 0},
        log=[str(tmp_path / "job.log")],
        threads=1,
    )


def test_failing_rule_log_and_console_end_with_the_sentence(tmp_path, capfd):
    (tmp_path / "tiles" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.float32), mode="F").save(tmp_path / "tiles" / "a" / "x.tif")
    (tmp_path / "tiles" / "b").mkdir()
    for i in range(4):
        Image.new("RGB", (4, 4)).save(tmp_path / "tiles" / "b" / f"y{i}.png")
        Image.new("RGB", (4, 4)).save(tmp_path / "tiles" / "a" / f"y{i}.png")
    spec = {"kind": "imagefolder", "root": str(tmp_path / "tiles"), "image_size": 8}
    with pytest.raises(SystemExit) as exit_:
        run_rule(data_stage.run, _fake_job(tmp_path, spec))
    assert exit_.value.code == 1
    log = (tmp_path / "job.log").read_text()
    last = log.strip().splitlines()[-1]
    assert last.startswith("error: image ") and "mode 'F'" in last and "convert it" in last
    assert "Traceback" not in log
    console = capfd.readouterr().err.strip().splitlines()
    assert console[-1] == last


def test_old_style_script_log_ends_with_the_sentence_too(tmp_path, capfd):
    with pytest.raises(SystemExit):
        with log_to(tmp_path / "job.log"):
            print("working")
            prepare("tiles", {"kind": "imagefolder", "root": str(tmp_path / "gone")}, tmp_path / "out", seed=0)
    log = (tmp_path / "job.log").read_text()
    assert "Traceback" not in log and log.strip().splitlines()[-1].startswith("error: datasets.tiles.data.root")
    assert capfd.readouterr().err.strip().splitlines()[-1].startswith("error: datasets.tiles.data.root")
