"""Key findings: the ranked method × layer table and the sentence on what it can tell apart."""

import pandas as pd

from posthoc import io
from posthoc.report import findings


def _faith(d, method, layers, drops, incs, n, lo=None, hi=None):
    frame = pd.DataFrame(
        {"method": method, "layer": layers, "keep_percent": 30.0, "drop_rate": drops, "increase_rate": incs, "n": n}
    )
    if lo is not None:
        frame["drop_rate_lo"], frame["drop_rate_hi"] = lo, hi
    io.save_csv(d / "faithfulness" / f"{method}.csv", frame)


def test_ranking_joins_map_quality_and_reads_intervals(tmp_path):
    _faith(tmp_path, "gradcam", ["f.0", "f.3"], [0.50, 0.20], [0.1, 0.3], 40, [0.45, 0.15], [0.55, 0.26])
    _faith(tmp_path, "saliency", ["input"], [0.22], [0.2], 40, [0.18], [0.27])
    _faith(tmp_path, "cam", ["features"], [0.70], [0.05], 40, [0.66], [0.74])
    io.save_csv(
        tmp_path / "map_quality" / "localisation.csv",
        pd.DataFrame(
            {
                "method": ["gradcam", "saliency"],
                "layer": ["f.3", "input"],
                "pointing_game": [0.9, 0.4],
                "pointing_game_ci_low": [0.8, 0.3],
                "pointing_game_ci_high": [0.95, 0.5],
                "relevance_mass": [0.6, 0.3],
                "n": [30, 30],
            }
        ),
    )
    io.save_csv(
        tmp_path / "map_quality" / "sanity_flags.csv",  # the rank correlation at full randomisation
        pd.DataFrame(
            {
                "method": ["gradcam"],
                "layer": ["f.3"],
                "spearman": [0.05],
                "threshold": [0.5],
                "survives_full_randomisation": [False],
                "n": [8],
            }
        ),
    )
    io.save_csv(
        tmp_path / "map_quality" / "per_image_drop.csv",  # not a key table: not joined
        pd.DataFrame({"method": ["gradcam"], "layer": ["f.3"], "image": [3], "drop": [0.9]}),
    )
    frame = findings.findings_frame(tmp_path)
    assert list(frame["method"] + "@" + frame["layer"]) == [
        "gradcam@f.3",
        "saliency@input",
        "gradcam@f.0",
        "cam@features",
    ]
    assert frame.loc[0, "spearman"] == 0.05 and frame.loc[0, "pointing_game"] == 0.9
    assert "drop" not in frame.columns and "threshold" not in frame.columns
    table = findings.findings_table(frame, gap_accuracy=0.8, model_accuracy=0.9)
    assert table["header"][:3] == ["rank", "method", "layer"]
    assert {"pointing game ↑", "drop rate ↓", "n (localisation)"} <= set(table["header"])
    first = dict(zip(table["header"], table["rows"][0]))
    assert first["drop rate ↓"] == "0.200 [0.150, 0.260]" and first["pointing game ↑"] == "0.900 [0.800, 0.950]"
    assert first["layer"] == "f.3 (2/2)" and first["n"] == "40" and first["n (localisation)"] == "30"
    assert table["flags"] == [False, False, False, True] and "0.800 vs 0.900" in table["note"]
    sentence = findings.distinguishability(frame, "tissue")
    # gradcam@f.3 [0.15, 0.26] overlaps saliency [0.18, 0.27] but not gradcam@f.0 [0.45, 0.55] or cam
    assert "gradcam @ f.3 has the lowest drop rate" in sentence
    assert "overlaps those of saliency, so these are not distinguishable" in sentence
    assert "gradcam @ f.0, cam are distinguishably less faithful" in sentence


def test_without_intervals_the_sentence_says_no_uncertainty(tmp_path):
    _faith(tmp_path, "gradcam", ["f.0"], [0.3], [0.1], 500)
    _faith(tmp_path, "lime", ["input"], [0.25], [0.2], 100)
    frame = findings.findings_frame(tmp_path)
    assert list(frame["method"]) == ["lime", "gradcam"]
    sentence = findings.distinguishability(frame, "mnist1d")
    assert "carry no intervals" in sentence and "no uncertainty" in sentence and "0.250–0.300" in sentence
    assert "different numbers of images (n = 100–500)" in sentence
    assert findings.findings_frame(tmp_path / "missing") is None
    assert "no faithfulness table" in findings.distinguishability(None, "x")


def test_layer_note_names_the_layers_the_maps_were_taken_at(tmp_path):
    """The note follows the explanation files' ``explain_layers``, not the modules' names."""
    import numpy as np

    from posthoc.report import builder

    frame = pd.DataFrame(
        {
            "method": ["gradcam", "gradcam", "saliency"],
            "layer": ["features.3", "features.1", "input"],
            "depth": [2, 1, 0],
        }
    )
    (tmp_path / "explanations").mkdir()
    for kind, says in (("rectified", "rectified outputs"), ("conv", "before their ReLU")):
        np.savez(tmp_path / "explanations" / "gradcam.npz", explain_layers=np.array(kind))
        note = builder._layer_note(frame, tmp_path)
        assert says in note and "(features.1, features.3)" in note, note
    (tmp_path / "explanations" / "gradcam.npz").unlink()
    assert builder._layer_note(frame, tmp_path) is None  # nothing records it: no claim
