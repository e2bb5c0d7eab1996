"""Lint (ruff check, always) and formatting (ruff format --check, snakefmt --check), configured in pyproject.toml.

The formatting checks run with POSTHOC_STYLE=1: the repository has not been run through the formatters yet.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

formatting = pytest.mark.skipif(os.environ.get("POSTHOC_STYLE") != "1", reason="set POSTHOC_STYLE=1 to check formatting")


def tool(name):
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_ruff_lint():
    proc = subprocess.run([tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:]


@formatting
def test_ruff_format():
    proc = subprocess.run([tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:]


@formatting
def test_snakefmt():
    proc = subprocess.run([tool("snakefmt"), "--check", "Snakefile", "rules"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
