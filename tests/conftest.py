"""Shared fixtures: a completed end-to-end run of configs/test.yaml, made once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TEST_CONFIG = ROOT / "configs" / "test.yaml"


def snakemake(
    workdir: Path, *args: str, configfile: Path = TEST_CONFIG, check: bool = True, timeout: int = 1200
) -> subprocess.CompletedProcess:
    """Run the workflow of this repository with ``workdir`` as working directory."""
    cmd = [
        SNAKEMAKE,
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        "--workflow-profile",
        str(ROOT / "profiles" / "default"),
        *args,
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def completed_run(tmp_path_factory) -> Path:
    """A working directory in which configs/test.yaml has run to completion (read-only for tests)."""
    workdir = tmp_path_factory.mktemp("e2e")
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture
def completed_copy(completed_run, tmp_path) -> Path:
    """A private copy of the completed run, for tests that change or rerun things."""
    dest = tmp_path / "run"
    shutil.copytree(completed_run, dest, symlinks=True, copy_function=shutil.copy2)
    return dest
