"""Faults: a training job killed midway resumes from its last completed epoch and ends exactly like an
uninterrupted run; no rule leaves a partial output that Snakemake would take as complete.

Training uses a variant of configs/test.yaml (MNIST-1D only, a wider net, ``EPOCHS`` epochs of
about 0.2 s each) so that there is time to interrupt it. Three ways to be interrupted:

* ``job-sigkill``       the training process alone is killed (out of memory, a crashed node step):
                        Snakemake sees the job fail and stops;
* ``workflow-sigterm``  the whole run gets SIGTERM (``scancel``, a wall-time limit, Ctrl-C):
                        Snakemake cancels the job and removes its incomplete outputs;
* ``workflow-sigkill``  the whole run dies at once (the machine went down): nothing is cleaned up,
                        and the stale lock is removed with ``--unlock`` as a user would.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, TEST_CONFIG
from jobgraph import SNAKEMAKE, job, jobs_to_run, run_snakemake

pytestmark = pytest.mark.e2e
EPOCHS = 20
DATASET = "mnist1d"
TRAIN_OUTPUTS = ("checkpoint.pt", "history.csv", "scores.json", "training_curves.png")


def fault_config() -> dict:
    config = copy.deepcopy(yaml.safe_load(TEST_CONFIG.read_text()))
    spec = config["datasets"][DATASET]
    spec["data"].update(num_samples=2000, n_val=200)
    spec["model"] = {"arch": "cnn1d", "channels": [32, 32, 32], "kernel_size": 5}
    spec["train"].update(epochs=EPOCHS, batch_size=32)
    config["datasets"] = {DATASET: spec}
    return config


def model_dir(workdir: Path) -> Path:
    return workdir / "results" / DATASET / "model"


def train_targets(workdir: Path) -> list[str]:
    """The training job's outputs, as targets (all of them: a target run checks only the files asked for)."""
    return [str(model_dir(workdir).relative_to(workdir) / o) for o in TRAIN_OUTPUTS]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "config.yaml"
    path.write_text(yaml.safe_dump(fault_config(), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def prepared(config_file, tmp_path_factory) -> Path:
    """A run directory in which everything upstream of training is done."""
    workdir = tmp_path_factory.mktemp("prepared")
    run_snakemake(workdir, "--cores", "2", f"results/{DATASET}/eda/stats.json", configfile=config_file)
    return workdir


@pytest.fixture(scope="module")
def reference(prepared, config_file, tmp_path_factory) -> Path:
    """The same training, never interrupted."""
    workdir = tmp_path_factory.mktemp("reference") / "run"
    shutil.copytree(prepared, workdir, symlinks=True)
    run_snakemake(workdir, "--cores", "2", *train_targets(workdir), configfile=config_file)
    return workdir


# --- helpers --------------------------------------------------------------------------------------


def start(workdir: Path, config_file: Path, *targets: str) -> tuple[subprocess.Popen, Path]:
    """Start Snakemake in its own session (so that it and its jobs can be signalled together)."""
    log = workdir / "snakemake.out"
    cmd = [
        SNAKEMAKE,
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(config_file),
        "--workflow-profile",
        str(ROOT / "profiles" / "default"),
        "--cores",
        "2",
        *targets,
    ]
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ, PYTHONHASHSEED="0")
        )
    return proc, log


def session_members(leader: int) -> list[int]:
    """PIDs of the processes in ``leader``'s session, other than the leader."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[3]) == leader and pid != leader:  # fields after "(comm)": state ppid pgrp session
            pids.append(pid)
    return pids


def wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 300, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"Snakemake ended ({proc.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def epochs_logged(workdir: Path) -> int:
    log = workdir / "results" / "logs" / DATASET / "train.log"
    found = re.findall(r'\{"epoch": (\d+)', log.read_text()) if log.exists() else []
    return max(map(int, found), default=0)


def interrupt(proc: subprocess.Popen, how: str) -> None:
    if how == "job-sigkill":
        for pid in session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
    elif how == "workflow-sigterm":
        os.killpg(proc.pid, signal.SIGTERM)
    elif how == "workflow-sigkill":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        raise ValueError(how)
    proc.wait(timeout=120)
    for pid in session_members(proc.pid):  # nothing of the run may survive it
        os.kill(pid, signal.SIGKILL)


def rerun(workdir: Path, config_file: Path, how: str) -> subprocess.CompletedProcess:
    if how == "workflow-sigkill":  # nobody removed Snakemake's lock
        run_snakemake(workdir, "--unlock", configfile=config_file)
    return run_snakemake(workdir, "--cores", "2", *train_targets(workdir), configfile=config_file)


def history_without_timing(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(model_dir(workdir) / "history.csv").drop(columns=["seconds"])


def assert_same_training(workdir: Path, reference: Path) -> None:
    got, ref = history_without_timing(workdir), history_without_timing(reference)
    assert got["epoch"].tolist() == list(range(1, EPOCHS + 1)), "an epoch is repeated or lost"
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    assert json.loads((model_dir(workdir) / "scores.json").read_text()) == json.loads(
        (model_dir(reference) / "scores.json").read_text()
    )
    weights = torch.load(model_dir(workdir) / "checkpoint.pt", weights_only=False)["state_dict"]
    ref_weights = torch.load(model_dir(reference) / "checkpoint.pt", weights_only=False)["state_dict"]
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)


# --- kill training midway, then resume ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["job-sigkill", "workflow-sigterm", "workflow-sigkill"])
def test_killed_training_resumes_from_last_epoch(prepared, reference, config_file, tmp_path, how):
    workdir = tmp_path / "run"
    shutil.copytree(prepared, workdir, symlinks=True)
    proc, log = start(workdir, config_file, *train_targets(workdir))
    wait_for(lambda: epochs_logged(workdir) >= 3, proc, log, what="three epochs")
    interrupt(proc, how)

    resume = model_dir(workdir) / ".resume.pt"
    assert resume.exists(), "the per-epoch training state must survive the interruption"
    state = torch.load(resume, weights_only=False)
    done = state["epoch"]
    assert 3 <= done < EPOCHS, f"interrupted after epoch {done}: not midway"
    assert [row["epoch"] for row in state["history"]] == list(range(1, done + 1))
    assert not (model_dir(workdir) / "checkpoint.pt").exists()

    rerun(workdir, config_file, how)
    train_log = (workdir / "results" / "logs" / DATASET / "train.log").read_text()
    assert f"resuming after epoch {done}" in train_log
    assert re.findall(r'\{"epoch": (\d+)', train_log) == [str(e) for e in range(done + 1, EPOCHS + 1)], (
        "the resumed job trains exactly the remaining epochs"
    )
    assert not resume.exists(), "the training state is removed once the model is saved"
    assert_same_training(workdir, reference)


# --- no partial output taken as complete -----------------------------------------------------------

PARTIAL = re.compile(r"^\.(%s)\..*\.partial" % "|".join(re.escape(Path(o).stem) for o in TRAIN_OUTPUTS))


def is_complete(path: Path) -> bool:
    """Whether an existing output file is whole (parses completely)."""
    try:
        if path.suffix == ".pt":
            torch.load(path, weights_only=False)
        elif path.suffix == ".csv":
            return len(pd.read_csv(path)) == EPOCHS
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            return path.read_bytes().endswith(b"IEND\xaeB`\x82")
        return True
    except Exception:
        return False


def test_rule_killed_while_writing_outputs_leaves_nothing_taken_as_complete(prepared, reference, config_file, tmp_path):
    """Kill the whole run (SIGKILL, no cleanup) while the training job is writing its outputs."""
    for attempt in range(3):  # the writing takes ~0.1 s; should it be missed, try again
        workdir = tmp_path / f"run{attempt}"
        shutil.copytree(prepared, workdir, symlinks=True)
        proc, log = start(workdir, config_file, *train_targets(workdir))
        out = model_dir(workdir)
        wait_for(lambda: epochs_logged(workdir) >= EPOCHS - 1, proc, log, what="the last epochs")
        caught = None
        while proc.poll() is None and caught is None:
            caught = next((p.name for p in out.iterdir() if PARTIAL.match(p.name)), None) if out.exists() else None
        if caught is None:
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        break
    else:
        pytest.fail("the training job never was caught writing an output")

    present = [o for o in TRAIN_OUTPUTS if (out / o).exists()]
    assert all(is_complete(out / o) for o in present), f"half-written output under its final name ({caught})"
    assert "checkpoint.pt" not in present, "the checkpoint is written last: it marks a finished training"
    run_snakemake(workdir, "--unlock", configfile=config_file)
    train = job("train", dataset=DATASET)
    assert train in jobs_to_run(workdir, config_file), "Snakemake would take the interrupted job as done"
    # Even without Snakemake's own record of the interrupted job, it is not taken as complete.
    shutil.rmtree(workdir / ".snakemake" / "incomplete", ignore_errors=True)
    assert train in jobs_to_run(workdir, config_file)

    run_snakemake(workdir, "--cores", "2", *train_targets(workdir), configfile=config_file)
    assert all(is_complete(out / o) for o in TRAIN_OUTPUTS)
    assert_same_training(workdir, reference)


# --- every writer is atomic --------------------------------------------------------------------------

WRITE_METHODS = {
    "savefig",
    "save",
    "savez",
    "savez_compressed",
    "to_csv",
    "to_json",
    "to_parquet",
    "write_text",
    "write_bytes",
    "imsave",
    "dump",
}
# (module, call) pairs that write outside `with atomic_path(...)` on purpose.
ALLOWED = {
    ("io.py", "*"): "defines the atomic writers",
    ("logs.py", "open"): "a job's log file, not an output",
    ("data/medmnist.py", "open"): "downloads into a .partial file that is renamed once its MD5 matches",
    ("mapped.py", "save"): "writes into a file handle that io.save_npy opened inside atomic_path",
    ("report/images.py", "save"): "encodes figures into an in-memory buffer (io.BytesIO), no file",
}


def _writes_outside_atomic_blocks(tree: ast.AST) -> list[tuple[int, str]]:
    found = []

    def is_atomic(with_node) -> bool:
        return any(
            isinstance(item.context_expr, ast.Call) and "atomic_path" in ast.unparse(item.context_expr.func)
            for item in with_node.items
        )

    def visit(node, inside: bool) -> None:
        if isinstance(node, (ast.With, ast.AsyncWith)) and is_atomic(node):
            inside = True
        if isinstance(node, ast.Call) and not inside:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            mode = (
                node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            if name == "open" and isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax"):
                found.append((node.lineno, "open"))
            elif name in WRITE_METHODS and not (name == "dump" and len(node.args) < 2):
                found.append((node.lineno, name))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def test_package_writes_files_only_through_atomic_paths():
    """Every file the package writes goes to a temporary name first (posthoc.io.atomic_path)."""
    package = ROOT / "src" / "posthoc"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        module = path.relative_to(package).as_posix()
        if (module, "*") in ALLOWED:
            continue
        for line, call in _writes_outside_atomic_blocks(ast.parse(path.read_text())):
            if (module, call) not in ALLOWED:
                offenders.append(f"src/posthoc/{module}:{line}: {call}(...) outside `with atomic_path(...)`")
    assert not offenders, "write outputs via posthoc.io (atomic):\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "writer", ["save_npy", "save_npz", "save_json", "save_text", "save_csv", "save_figure", "save_checkpoint"]
)
def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch, writer):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from posthoc import io, models

    target = (
        tmp_path
        / {
            "save_npy": "a.npy",
            "save_npz": "a.npz",
            "save_json": "a.json",
            "save_text": "a.txt",
            "save_csv": "a.csv",
            "save_figure": "a.png",
            "save_checkpoint": "a.pt",
        }[writer]
    )
    target.write_bytes(b"previous")
    calls = {
        "save_npy": lambda: io.save_npy(target, np.zeros(1000)),
        "save_npz": lambda: io.save_npz(target, x=np.zeros(1000)),
        "save_json": lambda: io.save_json(target, {"a": 1}),
        "save_text": lambda: io.save_text(target, "text"),
        "save_csv": lambda: io.save_csv(target, pd.DataFrame({"a": [1]})),
        "save_figure": lambda: io.save_figure(plt.figure(), target),
        "save_checkpoint": lambda: models.save_checkpoint(target, torch.nn.Linear(2, 2), {}),
    }

    def crash(*_):
        raise KeyboardInterrupt("interrupted before the rename")

    class OsWithoutRename:  # posthoc.io's view of `os`, with the final rename failing
        replace = staticmethod(crash)

        def __getattr__(self, name):
            return getattr(os, name)

    monkeypatch.setattr(io, "os", OsWithoutRename())
    with pytest.raises(KeyboardInterrupt):
        calls[writer]()
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "the temporary file is removed"
    monkeypatch.undo()
    calls[writer]()
    assert target.read_bytes() != b"previous" and [p.name for p in tmp_path.iterdir()] == [target.name]
