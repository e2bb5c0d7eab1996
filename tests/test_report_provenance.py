"""Provenance of a report: commit, seeds and per-rule runtimes from Snakemake benchmark files."""

from posthoc.report import provenance

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_runtimes_from_benchmark_tsvs(tmp_path):
    (tmp_path / "benchmarks" / "tissue").mkdir(parents=True)
    (tmp_path / "benchmarks" / "tissue" / "train.tsv").write_text(
        HEADER + "3725.0\t1:02:05\t1500\t1\t1\t1\t0\t0\t99\t3600\n"
    )
    (tmp_path / "benchmarks" / "tissue" / "eda.tsv").write_text(HEADER + "2.4\t0:00:02\t-\t-\t-\t-\t-\t-\t-\t-\n")
    (tmp_path / "benchmarks" / "report.tsv").write_text(HEADER + "9.6\t0:00:09\t300\t1\t1\t1\t0\t0\t50\t9\n")
    frame = provenance.runtimes(tmp_path)
    assert list(frame["rule"]) == ["train", "report", "eda"] and list(frame["dataset"]) == ["tissue", "–", "tissue"]
    assert list(frame["wall time"]) == ["1:02:05", "0:10", "0:02"]
    assert frame["peak RSS MB"].iloc[0] == 1500 and frame["peak RSS MB"].isna().iloc[2]
    assert provenance.runtime_summary(frame).startswith("3 jobs, 1:02:17 of job time")
    assert provenance.runtimes(tmp_path / "none") is None


def test_seeds_and_commit():
    config = {"seed": 3, "methods": {"lime": {"seed": 0}, "gradcam": {}}, "replicates": 2}
    assert provenance.seeds(config) == "seed = 3; methods.lime.seed = 0; replicates = 2"
    assert provenance.seeds({}) == "none set"
    commit = provenance.git_commit()
    assert commit.startswith("unknown") or len(commit.split()[0]) >= 7
    assert provenance.git_commit("/").startswith("unknown")
