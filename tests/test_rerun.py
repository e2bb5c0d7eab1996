"""Rerun only what changed: on a completed run of configs/test.yaml, change one thing and assert the
exact set of jobs (rule and wildcards) that ``snakemake -n`` would run.

Expected sets come from the tables in tests/jobgraph.py (rules, their wildcards and what each
reads; which jobs use which file; which rules read a method's parameters): the jobs a change
touches directly, plus everything downstream of them. The scenarios:

* nothing changed                   -> nothing to do
* an explanation method's parameter -> that method's explanations, their faithfulness, the report
* a dataset parameter               -> that dataset's whole chain, nothing of the other dataset
* the report template               -> only the report
* a package module / rule script    -> the jobs that use it and what depends on them

Code is edited in a copy of the repository, never in this checkout (see ``moved_run``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TEST_CONFIG
from jobgraph import (
    CODE_USERS,
    all_jobs,
    code_users,
    downstream,
    job,
    jobs_of,
    jobs_to_run,
    parameter_readers,
    printed_jobs,
    rule_edges,
    rulegraph_edges,
    run_snakemake,
)

pytestmark = pytest.mark.e2e
CONFIG = yaml.safe_load(TEST_CONFIG.read_text())
SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
DATASETS = list(CONFIG["datasets"])
UPSTREAM_OF_EXPLAIN = {"prepare_data", "eda", "train", "evaluate"}


def describe(jobs) -> str:
    return "\n  ".join(sorted(map(str, jobs))) or "(none)"


def assert_same_jobs(got: set, expected: set) -> None:
    assert got == expected, (
        f"jobs that would run:\n  {describe(got)}\nexpected:\n  {describe(expected)}\n"
        f"unexpected: {describe(got - expected)}\nmissing: {describe(expected - got)}"
    )


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- the expectations' table is the workflow -------------------------------------------------------


def test_job_table_matches_the_workflow(completed_copy):
    """tests/jobgraph.py RULES gives every job and every rule-to-rule edge that Snakemake has."""
    proc = run_snakemake(completed_copy, "-n", "--forceall", "--cores", "2", configfile=TEST_CONFIG)
    printed = {p.job for p in printed_jobs(proc.stdout + proc.stderr)}
    assert_same_jobs(printed, all_jobs(CONFIG))
    dot = run_snakemake(completed_copy, "--rulegraph", configfile=TEST_CONFIG).stdout
    edges = rulegraph_edges(dot)
    table = rule_edges(CONFIG)
    assert edges == table, (
        "update RULES in tests/jobgraph.py: "
        f"edges missing there {sorted(edges - table)}, edges not in the workflow {sorted(table - edges)}"
    )


# --- configuration changes, on a copy of the completed run ------------------------------------------


def test_nothing_changed_nothing_to_do(completed_copy):
    assert jobs_to_run(completed_copy, TEST_CONFIG) == set()


def _other_value(spec: dict, current):
    """A valid value different from ``current`` for a parameter with JSON-schema ``spec`` (or None)."""
    if "enum" in spec:
        return next((v for v in spec["enum"] if v != current), None)
    kind = spec.get("type")
    if kind == "boolean":
        return not bool(current)
    if kind in ("integer", "number"):
        lo = max(spec.get("minimum", -float("inf")), spec.get("exclusiveMinimum", -float("inf")))
        hi = min(spec.get("maximum", float("inf")), spec.get("exclusiveMaximum", float("inf")))
        base = current if current is not None else (lo if lo > -float("inf") else 1)
        step = 1 if kind == "integer" else (abs(base) / 2 or 0.5)
        for candidate in (base + step, base - step):
            if lo <= candidate <= hi and candidate not in (spec.get("exclusiveMinimum"), spec.get("exclusiveMaximum")):
                return candidate
    return None


def method_parameter_change(config: dict, schema: dict):
    """(method, parameter, new value) for the first method of ``config`` that has a parameter."""
    declared = schema["properties"]["methods"].get("properties", {})
    for method in config["methods"]:
        spec = declared.get(method, {})
        if "$ref" in spec:
            spec = schema["$defs"][spec["$ref"].rsplit("/", 1)[1]]
        for name, param in spec.get("properties", {}).items():
            current = (config["methods"][method] or {}).get(name, param.get("default"))
            new = _other_value(param, current)
            if new is not None:
                return method, name, new
    return None


def test_method_parameter_change_reruns_that_method_only(completed_copy, tmp_path):
    change = method_parameter_change(CONFIG, SCHEMA)
    if change is None:
        pytest.skip("no explanation method in configs/test.yaml has a parameter to change")
    method, name, value = change
    config = copy.deepcopy(CONFIG)
    config["methods"][method] = {**(config["methods"][method] or {}), name: value}
    got = jobs_to_run(completed_copy, write_config(tmp_path / "config.yaml", config))
    assert_same_jobs(got, downstream(parameter_readers(CONFIG, method), CONFIG))
    assert not {j for j in got if j.rule in UPSTREAM_OF_EXPLAIN}, "no training or data job may run"
    assert all(dict(j.wildcards).get("method", method) == method for j in got), "no other method may run"


def test_dataset_parameter_change_reruns_that_dataset_only(completed_copy, tmp_path):
    dataset = DATASETS[0]
    config = copy.deepcopy(CONFIG)
    data = config["datasets"][dataset]["data"]
    data["n_val"] = max(1, data.get("n_val", 100) // 2)
    got = jobs_to_run(completed_copy, write_config(tmp_path / "config.yaml", config))
    assert_same_jobs(got, downstream(jobs_of(CONFIG, "prepare_data", dataset=dataset), CONFIG))
    assert all(dict(j.wildcards).get("dataset", dataset) == dataset for j in got), "no job of another dataset may run"
    assert job("train", dataset=dataset) in got


# --- code changes, in a copy of the repository -------------------------------------------------------


def copy_repository(dest: Path) -> None:
    """Copy what the workflow sees of this checkout (tracked and untracked, not ignored), keeping mtimes."""
    try:
        listed = (
            subprocess.run(
                ["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True
            )
            .stdout.decode()
            .split("\0")
        )
        files = [f for f in listed if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        skip = {".git", ".venv", "results", ".snakemake", "__pycache__", ".pytest_cache"}
        files = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)


@pytest.fixture(scope="module")
def moved_run(completed_run, tmp_path_factory):
    """(repository copy, completed run of it): the completed run, rebased onto a copy of the repository.

    The rules record a content hash of the package files they run, not their paths: on a copy of the
    checkout (other absolute paths, same contents) nothing is to be done, without ``snakemake --touch``.
    """
    base = tmp_path_factory.mktemp("moved")
    repo, run = base / "repo", base / "run"
    copy_repository(repo)
    shutil.copytree(completed_run, run, symlinks=True)
    assert jobs_to_run(run, repo / "configs" / "test.yaml", repo / "Snakefile") == set()
    return repo, run


@contextlib.contextmanager
def edited(path: Path):
    """Append a comment to ``path`` (a real content change, newer than every output); restore it after."""
    original, stat = path.read_bytes(), path.stat()
    comment = b"\n{# edited by test_rerun #}\n" if path.suffix == ".j2" else b"\n# edited by test_rerun\n"
    try:
        path.write_bytes(original + comment)
        now = time.time() + 1
        os.utime(path, (now, now))
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("changed", list(CODE_USERS))
def test_code_change_reruns_its_users_only(moved_run, tmp_path, changed):
    repo, base = moved_run
    run = tmp_path / "run"
    shutil.copytree(base, run, symlinks=True)
    seeds = code_users(CONFIG, changed)
    with edited(repo / changed):
        got = jobs_to_run(run, repo / "configs" / "test.yaml", repo / "Snakefile")
    assert_same_jobs(got, downstream(seeds, CONFIG))
    if changed.endswith(".j2"):
        assert got == {job("report"), job("all")}, "a template change reruns only the report"
    if changed.endswith("plots/lime.py"):
        assert {j.rule for j in got} == {"lime_study", "report", "all"}, "a LIME figure change reruns its figures only"
        print(f"editing {changed} reruns {len(got)} jobs: {describe(got)}")
