"""Replicate models and the data randomisation test: the summary's arithmetic, the label shuffle, and the
jobs each switch adds to the workflow (a dry run against tests/jobgraph.py)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import yaml

from conftest import TEST_CONFIG
from jobgraph import all_jobs, job, jobs_to_run, rule_edges, rulegraph_edges, run_snakemake
from posthoc.metrics.replicates import metric_rows, summarise
from posthoc.train import shuffled_labels

CONFIG = yaml.safe_load(TEST_CONFIG.read_text())


def test_summarise_mean_sd_against_numpy():
    values = {("gradcam", "conv1", "drop_rate"): [0.2, 0.35, 0.5], ("model", "", "test_accuracy"): [0.9, 0.8, 0.85]}
    rows = pd.DataFrame(
        [
            {"method": m, "layer": layer, "metric": metric, "replicate": r, "value": v}
            for (m, layer, metric), vs in values.items()
            for r, v in enumerate(vs)
        ]
    )
    table = summarise(rows.sample(frac=1, random_state=0))  # order of the rows does not matter
    for (m, layer, metric), vs in values.items():
        row = table[(table["method"] == m) & (table["metric"] == metric)].iloc[0]
        assert row["layer"] == layer
        np.testing.assert_allclose(row["mean"], np.mean(vs))
        np.testing.assert_allclose(row["sd"], np.std(vs, ddof=1))
        assert row["n_replicates"] == 3
        np.testing.assert_allclose([row[f"replicate_{r}"] for r in range(3)], vs)
    single = summarise(rows[rows["replicate"] == 0])
    assert single["n_replicates"].tolist() == [1, 1] and single["sd"].isna().all()  # no spread from one model


def test_metric_rows_are_the_means_of_the_per_image_scores():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1, 6)
    p_kept = rng.uniform(0, 1, (6, 2))
    fr = np.linspace(0, 1, 5)
    curve = rng.uniform(0, 1, (4, 2, 5))
    loc = rng.uniform(0, 1, (6, 2))
    loc[0, 1] = np.nan  # an image without mask pixels
    d = {"layers": np.array(["a", "b"]), "p": p, "p_kept": p_kept, "curve_fractions": fr, "curve_deletion": curve}
    d["loc_relevance_mass"] = loc
    rows = {(r["layer"], r["metric"]): r["value"] for r in metric_rows(d, increase_tolerance=0.0)}
    drop = np.clip(p[:, None] - p_kept, 0, None) / p[:, None]
    np.testing.assert_allclose([rows["a", "drop_rate"], rows["b", "drop_rate"]], drop.mean(0))
    np.testing.assert_allclose(rows["b", "increase_rate"], (p_kept[:, 1] > p).mean())
    np.testing.assert_allclose(rows["a", "deletion_auc"], np.trapezoid(curve[:, 0], fr, axis=-1).mean())
    np.testing.assert_allclose(rows["b", "relevance_mass"], np.nanmean(loc[:, 1]))
    assert ("a", "insertion_auc") not in rows  # only the curves that were computed


def test_shuffled_labels_are_a_seeded_permutation():
    labels = np.repeat(np.arange(10), 30)
    a, b = shuffled_labels(labels, 3), shuffled_labels(labels, 3)
    np.testing.assert_array_equal(a, b)  # seeded
    np.testing.assert_array_equal(np.sort(a), labels)  # a permutation: class counts kept
    assert (a != labels).mean() > 0.5  # most labels moved
    assert not np.array_equal(shuffled_labels(labels, 4), a)  # another seed, another permutation


def _variant(tmp_path, name: str, **changes) -> tuple[dict, object]:
    config = copy.deepcopy(CONFIG)
    for key, value in changes.items():
        if key == "data_randomisation":
            config.setdefault("map_quality", {}).setdefault("sanity", {})["data_randomisation"] = value
        else:
            config[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config, path


def test_replicates_and_data_randomisation_add_exactly_their_jobs(tmp_path):
    base = all_jobs(CONFIG)
    workdir = tmp_path / "run"
    workdir.mkdir()
    one, one_path = _variant(tmp_path, "one", replicates=1)
    assert all_jobs(one) == base
    assert jobs_to_run(workdir, one_path) == base  # replicates: 1 adds no job

    two, two_path = _variant(tmp_path, "two", replicates=2, data_randomisation=True)
    got = jobs_to_run(workdir, two_path)
    datasets = list(CONFIG["datasets"])
    added = {job("train_replicate", dataset=d, replicate="1") for d in datasets}
    added |= {job("replicate_quality", dataset=d, replicate="1") for d in datasets}
    added |= {job("map_quality_replicates", dataset=d) for d in datasets}
    added |= {job("train_shuffled", dataset=d) for d in datasets}
    added |= {job("data_randomisation", dataset=d) for d in datasets}
    assert got - base == added and base <= got
    assert all_jobs(two) == got  # the job table knows them
    dot = run_snakemake(workdir, "--rulegraph", configfile=two_path).stdout
    assert rulegraph_edges(dot) == rule_edges(two)


def test_three_replicates_one_training_job_each(tmp_path):
    replicates = 3
    config, path = _variant(tmp_path, "three", replicates=replicates)
    workdir = tmp_path / "run"
    workdir.mkdir()
    got = jobs_to_run(workdir, path)
    trains = sorted(dict(j.wildcards)["replicate"] for j in got if j.rule == "train_replicate")
    assert trains == sorted([str(r) for r in range(1, replicates)] * len(CONFIG["datasets"]))
    assert all_jobs(config) == got


def test_data_randomisation_rows_and_flags(tmp_path):
    from posthoc.stages.map_quality_summary import data_randomisation_rows, sanity_flags

    rho = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])  # 3 images × 2 layers
    path = tmp_path / "similarity.npz"
    np.savez(
        path,
        methods=np.array(["gradcam"]),
        gradcam__spearman=rho,
        gradcam__ssim=np.full(rho.shape, np.nan),  # 1-D maps: no SSIM
        gradcam__layers=np.array(["a", "b"]),
        gradcam__index=np.arange(3),
    )
    rows = data_randomisation_rows(str(path), {"n_boot": 50, "confidence": 0.95, "seed": 0})
    assert rows["test"].eq("data").all() and rows["randomised"].eq("labels").all()
    np.testing.assert_allclose(rows["spearman"], np.median(rho, 0))
    assert "ssim" not in rows.columns and rows["n"].tolist() == [3, 3]
    cascade = pd.DataFrame(
        {
            "method": ["gradcam", "gradcam", "cam"],
            "layer": ["a", "b", "trunk"],
            "test": "cascading",
            "randomised": "all",
            "spearman": [0.2, 0.6, 0.1],
            "spearman_ci_low": 0.0,
            "spearman_ci_high": 1.0,
            "n": 3,
        }
    )
    flags = sanity_flags(pd.concat([cascade, rows], ignore_index=True), threshold=0.5)
    assert flags["survives_full_randomisation"].tolist() == [False, True, False]
    assert flags["survives_data_randomisation"].tolist() == [True, False, None]  # cam: not tested
    np.testing.assert_allclose(flags["data_spearman"][:2], [0.8, 0.2])
