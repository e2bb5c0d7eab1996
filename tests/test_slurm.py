"""On a real SLURM cluster: configs/test.yaml through ``--workflow-profile profiles/slurm``.

tests/slurm/setup.sh installs SLURM and munge when missing and starts a single-node cluster on
this machine (root, no accounting, one fake GPU declared as a generic resource); the fixture stops
it again with tests/slurm/teardown.sh. Needs root; elsewhere the test is skipped, unless
POSTHOC_REQUIRE_SLURM is set (as in CI), where it fails instead.

The cluster runs configs/test.yaml with its first dataset only (MNIST-1D): every rule of the study
runs for it, so the SLURM mechanics are all exercised at half the jobs (each SLURM job pays a
submission, a status poll and a Python start-up). Checked: every contracted output of that dataset
exists and matches the local run's metrics (``completed_run``), each rule ran as its own SLURM job
that completed, and exactly the GPU rules were submitted with a GPU request, read from SLURM's job
records (``scontrol show job``: ``TresPerJob=gres:gpu:1``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TEST_CONFIG
from jobgraph import GPU_RULES, all_jobs, job, printed_jobs, run_snakemake

# The cluster start (apt-get install on a fresh machine) and the run are in the first test's setup.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2700)]
CONFIG = yaml.safe_load(TEST_CONFIG.read_text())
DATASET = next(iter(CONFIG["datasets"]))
SLURM_CONFIG = {**CONFIG, "datasets": {DATASET: CONFIG["datasets"][DATASET]}}
SLURM_DIR = ROOT / "tests" / "slurm"


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "starting a SLURM cluster needs root"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "SLURM is not installed and apt-get is not available to install it"
    return None


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = _why_not()
    if reason:
        if os.environ.get("POSTHOC_REQUIRE_SLURM"):
            pytest.fail(reason)
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm-state")
    try:
        setup = subprocess.run(
            ["bash", str(SLURM_DIR / "setup.sh"), str(state)], capture_output=True, text=True, timeout=900
        )
        if setup.returncode == 3 and not os.environ.get("POSTHOC_REQUIRE_SLURM"):  # a cluster not ours is running
            pytest.skip(setup.stderr.strip())
        assert setup.returncode == 0, f"tests/slurm/setup.sh failed:\n{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}"
        yield state
    finally:
        subprocess.run(["bash", str(SLURM_DIR / "teardown.sh"), str(state)], capture_output=True, timeout=300)


def job_records(run_id: str) -> dict[int, dict[str, str]]:
    """SLURM's records of this run's jobs (they stay visible for MinJobAge = 1 h), by job id."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True).stdout
    records = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(?:^|\s)(\w+)=(\S*)", line))
        if fields.get("JobName") == run_id:
            records[int(fields["JobId"])] = fields
    return records


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-run")
    configfile = workdir / "slurm.yaml"
    configfile.write_text(yaml.safe_dump(SLURM_CONFIG, sort_keys=False))
    started = time.monotonic()
    # A short first status check keeps the test quick; everything else comes from the profile.
    proc = run_snakemake(
        workdir,
        "--slurm-init-seconds-before-status-checks",
        "2",
        configfile=configfile,
        profile=ROOT / "profiles" / "slurm",
        timeout=2400,
        check=False,
    )
    out = proc.stdout + proc.stderr
    (workdir / "snakemake.out").write_text(out)
    if proc.returncode != 0:
        logs = "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in slurm_cluster.glob("*.log"))
        pytest.fail(f"the SLURM run failed ({proc.returncode}):\n{out[-6000:]}{logs}")
    print(f"\nSLURM run of configs/test.yaml ({DATASET} only): {time.monotonic() - started:.0f} s")
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    return workdir, out, job_records(run_id)


def submitted(out: str) -> dict:
    """Snakemake job -> (SLURM job id, resources Snakemake gave it), from the run's output."""
    by_jobid = {p.jobid: p for p in printed_jobs(out)}
    result = {}
    for jobid, slurm_id in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", out):
        printed = by_jobid[int(jobid)]
        assert printed.job not in result, f"{printed.job} submitted twice"
        result[printed.job] = (int(slurm_id), printed.resources)
    return result


def test_each_rule_ran_as_its_own_completed_slurm_job(slurm_run):
    workdir, out, records = slurm_run
    jobs = submitted(out)
    assert set(jobs) == all_jobs(SLURM_CONFIG) - {job("all")}, "every job but the target rule `all` goes to SLURM"
    ids = [slurm_id for slurm_id, _ in jobs.values()]
    assert len(set(ids)) == len(ids) and set(ids) == set(records), "one SLURM job per Snakemake job"
    for j, (slurm_id, _) in jobs.items():
        record = records[slurm_id]
        assert record["JobState"] == "COMPLETED" and record["ExitCode"] == "0:0", (j, record)
        wildcards = "_".join(v for _, v in j.wildcards)
        assert record["Comment"] == f"rule_{j.rule}" + (f"_wildcards_{wildcards}" if wildcards else ""), record
        log = workdir / ".snakemake" / "slurm_logs" / f"rule_{j.rule}" / wildcards / f"{slurm_id}.log"
        assert log.exists(), f"no SLURM log {log}"


def test_gpu_requested_by_exactly_the_gpu_rules(slurm_run):
    _, out, records = slurm_run
    for j, (slurm_id, resources) in submitted(out).items():
        record = records[slurm_id]
        wants_gpu = j.rule in GPU_RULES
        assert (resources.get("gpu") == "1") == wants_gpu, (j, resources)
        assert ("gpu" in record.get("TresPerJob", "")) == wants_gpu, (j, record.get("TresPerJob"))
        if wants_gpu:
            assert record["TresPerJob"] == "gres:gpu:1"
        # The rule's other resources reach sbatch as well: --mem, --cpus-per-task, -t.
        hours, minutes = divmod(int(resources["runtime"]), 60)
        assert record["MinMemoryNode"] == f"{resources['mem_mb']}M", (j, record)
        assert record["NumCPUs"] == resources["cpus_per_task"], (j, record)
        assert record["TimeLimit"] == f"{hours:02d}:{minutes:02d}:00", (j, record)


def test_rule_resources_come_from_the_config(slurm_run):
    """A rule named like a config resource group (train, explain) has that group's resources; the
    other CPU-only rules have the default group's."""
    _, out, _ = slurm_run
    groups = CONFIG["resources"]
    for j, (_, resources) in submitted(out).items():
        if j.rule in groups:
            expected = {**groups["default"], **groups[j.rule]}
        elif j.rule not in GPU_RULES:
            expected = groups["default"]
        else:
            continue
        for key in ("mem_mb", "runtime", "cpus_per_task"):
            assert resources[key] == str(expected[key]), (j, key, resources)


def _same_values(x, y, where: str) -> None:
    """JSON values equal, numbers to within float rounding."""
    if isinstance(y, dict):
        assert isinstance(x, dict) and x.keys() == y.keys(), where
        for k in y:
            _same_values(x[k], y[k], f"{where}.{k}")
    elif isinstance(y, list):
        assert isinstance(x, list) and len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y)):
            _same_values(u, v, f"{where}[{i}]")
    elif isinstance(y, float):
        assert x == pytest.approx(y, rel=1e-5, abs=1e-7), where
    else:
        assert x == y, where


def _same_table(a: Path, b: Path) -> None:
    x, y = pd.read_csv(a), pd.read_csv(b)
    if a.name == "history.csv":
        x, y = x.drop(columns="seconds", errors="ignore"), y.drop(columns="seconds", errors="ignore")  # wall clock
    pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-5, atol=1e-7, obj=str(a))


def test_outputs_exist_and_match_the_local_run(slurm_run, completed_run):
    workdir, _, _ = slurm_run
    local, remote = completed_run / "results" / DATASET, workdir / "results" / DATASET
    contracted = [p.relative_to(local) for p in local.rglob("*") if p.is_file() and "logs" not in p.parts]
    assert (workdir / "results" / "report.html").exists()
    assert contracted
    for rel in contracted:
        a, b = local / rel, remote / rel
        assert b.exists() and b.stat().st_size > 0, f"missing on SLURM: {rel}"
        if rel.suffix == ".json":
            _same_values(json.loads(b.read_text()), json.loads(a.read_text()), str(rel))
        elif rel.suffix == ".csv":
            _same_table(a, b)
        elif rel.suffix in (".npz", ".npy"):
            x, y = np.load(a), np.load(b)
            for key in x.files if rel.suffix == ".npz" else [None]:
                u, v = (x[key], y[key]) if key else (x, y)
                if u.dtype.kind in "fc":
                    np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-6, err_msg=f"{rel}:{key}")
                else:
                    np.testing.assert_array_equal(v, u, err_msg=f"{rel}:{key}")


def test_local_profile_runs_one_gpu_job_at_a_time(completed_run):
    """profiles/default limits the `gpu` resource to 1: under --cores 2 no two GPU jobs overlap."""
    log = max((completed_run / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    stamp = r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]\n"
    parse = lambda s: time.mktime(time.strptime(s, "%a %b %d %H:%M:%S %Y"))  # noqa: E731
    starts = {
        int(i): (rule, parse(t))
        for t, rule, i in re.findall(stamp + r"(?:local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)", log)
    }
    ends = {int(i): parse(t) for t, i in re.findall(stamp + r"Finished jobid: (\d+)", log)}
    gpu = sorted((starts[i][1], ends[i], starts[i][0]) for i in starts if starts[i][0] in GPU_RULES)
    assert len(gpu) == sum(1 for j in all_jobs(CONFIG) if j.rule in GPU_RULES)
    for (_, end, a), (start, _, b) in zip(gpu, gpu[1:]):
        assert start >= end, f"GPU jobs {a} and {b} overlapped"


def test_slurm_profile_leaves_cluster_specifics_to_the_user():
    """profiles/slurm sets the executor, job limit, latency wait, fallback resources and the status
    command; partition and account are the user's, in the profile, never in the rules."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["jobs"] >= 1 and profile["latency-wait"] >= 5
    assert {"mem_mb", "runtime"} <= set(profile["default-resources"])
    assert profile["slurm-status-command"] in ("squeue", "sacct")
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        assert "slurm_partition" not in text and "slurm_account" not in text, smk
