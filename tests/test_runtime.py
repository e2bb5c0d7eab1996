"""pin_allocator: glibc keeps freed buffers for reuse instead of handing them back and faulting them in again."""

import os
import platform
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from posthoc import rule, runtime
from posthoc.runtime import MALLOC_SETTINGS, pin_allocator

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")

# A fresh process allocates and frees a 40 MiB buffer (above glibc's largest automatic mmap threshold,
# 32 MiB: by default mapped and unmapped every time), then a 2 MiB one, then runs a small CNN's forward
# pass (activation buffers of about 1.3 MB), in rounds; it prints its minor page faults over ten rounds
# after two warm-up rounds.
PROBE = """
import resource, sys
import torch
from torch import nn
from posthoc.runtime import pin_allocator

torch.set_num_threads(1)
pinned = pin_allocator() if sys.argv[1] == "pinned" else {}
model = nn.Sequential(nn.Conv1d(1, 32, 5, padding=2), nn.ReLU(), nn.Conv1d(32, 32, 5, padding=2), nn.ReLU())
x = torch.randn(256, 1, 40)


def round_():
    for size in (40 << 20, 2 << 20):
        torch.empty(size, dtype=torch.uint8).fill_(1)
    with torch.no_grad():
        model(x)


for _ in range(2):  # the heap reaches its size (an allocation kept from the first round may split a free block)
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, bool(pinned))
"""


def probe(setting: str) -> tuple[int, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # glibc's defaults
    env["PYTHONPATH"] = str(Path(runtime.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True, text=True, check=True, env=env)
    faults, pinned = out.stdout.split()
    return int(faults), pinned == "True"


@glibc_only
def test_pinned_thresholds_stop_page_faults_on_reused_buffers():
    pinned_faults, pinned = probe("pinned")
    default_faults, _ = probe("default")
    assert pinned
    # by default the 40 MiB buffer alone is 10,240 pages mapped anew in each of the ten rounds; pinned,
    # every buffer is reused from the heap (0 faults here; the bound leaves room for a stray page)
    if "[always]" not in (THP.read_text() if THP.exists() else ""):  # huge pages fault 2 MiB at a time
        assert default_faults > 10 * 10_000, default_faults
    assert pinned_faults < 2_000, (pinned_faults, default_faults)


@glibc_only
def test_pin_allocator_reports_every_setting_on_glibc():
    assert pin_allocator() == MALLOC_SETTINGS


@pytest.mark.parametrize("library", [object(), None])
def test_pin_allocator_is_a_no_op_without_mallopt(monkeypatch, library):
    def cdll(name):
        if library is None:
            raise OSError("no C library")
        return library

    monkeypatch.setattr(runtime.ctypes, "CDLL", cdll)
    assert pin_allocator() == {}


def test_run_rule_pins_the_allocator_before_the_stage(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(rule, "pin_allocator", lambda: calls.append("pin"))
    job = SimpleNamespace(input={}, output={}, params={}, wildcards={}, log=[str(tmp_path / "job.log")], threads=1)
    rule.run_rule(lambda: calls.append("stage"), job)
    assert calls == ["pin", "stage"]
