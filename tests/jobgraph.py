"""The workflow's jobs as the tests expect them, and readers for what Snakemake printed.

The tables below are the ONE place to update when a rule is added or what it reads changes:

* ``RULES``: for each rule, the wildcards it has, the rules whose outputs it reads, and (optionally)
  under which config it has jobs at all;
* ``CODE_USERS``: for files of the repository, the jobs that use them directly;
* ``PARAMETER_READERS``: rules other than ``explain`` that read an explanation method's parameters;
* ``GPU_RULES``: the rules that ask for a GPU.

From these and a config (its ``datasets`` and ``methods``) the tests derive every job of the study
and, for a change, the exact set of jobs that must run again: the jobs the change touches directly
plus everything downstream of them. ``test_rerun.py::test_job_table_matches_the_workflow`` checks
``RULES`` against Snakemake's own job list and rule graph, so a stale table fails and says what to add.

A job is ``Job(rule, wildcards)`` with ``wildcards`` a sorted tuple of ``(name, value)`` pairs. A job
reads a job of a rule listed in its ``reads`` when their wildcards agree on the names both have (so
``faithfulness_summary(dataset=d)`` reads ``faithfulness(dataset=d, method=m)`` for every ``m``, and
``report()`` reads every job of the rules it lists) and, for an entry ``(rule, condition)``, when
``condition(wildcards)`` holds for the wildcards of both jobs (the reading job's where both have one, so
``("explain", not_cam)`` in ``replicate_quality``'s reads selects the explain jobs of the plain model).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


class Rule(NamedTuple):
    wildcards: tuple[str, ...]
    reads: tuple = ()  # rule names, or (rule name, condition) pairs
    when: Callable[[dict], bool] = lambda config: True  # whether the rule has jobs under a config
    datasets: Callable[[dict, str], bool] = lambda config, dataset: True  # which datasets it has jobs for


sys.path.insert(0, str(ROOT / "src"))
from posthoc.explain.registry import declared  # noqa: E402
from posthoc.io import is_torchscript  # noqa: E402

TRAITS = declared()  # each method's registry traits: which model it explains
not_cam = lambda w: TRAITS[w["method"]].explains == "model"  # noqa: E731  the dataset's own model
cam = lambda w: TRAITS[w["method"]].explains == "model_gap"  # noqa: E731  the GAP variant (rule train_gap)


def imported(config: dict, dataset: str) -> bool:
    """The dataset's model is an existing file (model.checkpoint): rule import_model, no train job."""
    return bool(config["datasets"][dataset].get("model", {}).get("checkpoint"))


def trained(config: dict, dataset: str) -> bool:
    return not imported(config, dataset)


def layered(config: dict, dataset: str) -> bool:
    """Its model's inner layers are reachable (not a TorchScript model.checkpoint)."""
    return not (imported(config, dataset) and is_torchscript(config["datasets"][dataset]["model"]["checkpoint"]))


def replicates(config: dict) -> int:
    return int(config.get("replicates", 1))


def data_randomisation(config: dict) -> bool:
    return bool(config.get("map_quality", {}).get("sanity", {}).get("data_randomisation", False))


RULES: dict[str, Rule] = {
    "prepare_data": Rule(("dataset",)),
    "eda": Rule(("dataset",), ("prepare_data",)),
    "train": Rule(("dataset",), ("prepare_data", "eda"), datasets=trained),
    "import_model": Rule(("dataset",), ("prepare_data", "eda"), datasets=imported),
    # train_gap reads the dataset's model too (model.cam_model: frozen, the default)
    "train_gap": Rule(
        ("dataset",),
        ("prepare_data", "eda", "train", "import_model"),
        when=lambda c: any(TRAITS[m].explains == "model_gap" for m in c["methods"]),
    ),
    "evaluate": Rule(("dataset",), ("prepare_data", "train", "import_model")),
    "explain": Rule(
        ("dataset", "method"),
        ("prepare_data", ("train", not_cam), ("import_model", not_cam), ("train_gap", cam), "evaluate"),
    ),
    "faithfulness": Rule(
        ("dataset", "method"), (("train", not_cam), ("import_model", not_cam), ("train_gap", cam), "explain")
    ),
    "faithfulness_summary": Rule(("dataset",), ("faithfulness",)),
    "explain_summary": Rule(("dataset",), ("prepare_data", "eda", "evaluate", "explain")),
    "occlusion_study": Rule(
        ("dataset",),
        ("prepare_data", "train", "import_model", "evaluate"),
        when=lambda c: "occlusion" in c["methods"],
        datasets=layered,
    ),
    "lime_study": Rule(
        ("dataset",),
        ("prepare_data", "train", "import_model", "evaluate"),
        when=lambda c: "lime" in c["methods"],
    ),
    "robustness": Rule(("dataset",), ("prepare_data", "train", "import_model", "evaluate"), datasets=layered),
    "activations": Rule(("dataset",), ("prepare_data", "train", "import_model", "evaluate"), datasets=layered),
    "feature_vis": Rule(
        ("dataset",), ("prepare_data", "train", "import_model", "evaluate", "activations"), datasets=layered
    ),
    "map_quality": Rule(
        ("dataset", "method"),
        ("prepare_data", ("train", not_cam), ("import_model", not_cam), ("train_gap", cam), "explain"),
        datasets=layered,
    ),
    "map_quality_summary": Rule(
        ("dataset",),
        ("eda", "train", "import_model", "explain", "map_quality", "data_randomisation"),
        datasets=layered,
    ),
    # replicates 2+: one more model per replicate (seed + r), scored by one job per (dataset, replicate)
    "train_replicate": Rule(
        ("dataset", "replicate"), ("prepare_data", "eda"), when=lambda c: replicates(c) > 1, datasets=layered
    ),
    "replicate_quality": Rule(
        ("dataset", "replicate"),
        ("prepare_data", "train_replicate", ("explain", not_cam)),
        when=lambda c: replicates(c) > 1,
        datasets=layered,
    ),
    "map_quality_replicates": Rule(
        ("dataset",),
        ("train", "map_quality", "train_replicate", "replicate_quality"),
        when=lambda c: replicates(c) > 1,
        datasets=layered,
    ),
    # map_quality.sanity.data_randomisation: the shuffled-label model and its maps
    "train_shuffled": Rule(
        ("dataset",), ("prepare_data", "eda"), when=lambda c: data_randomisation(c), datasets=layered
    ),
    "data_randomisation": Rule(
        ("dataset",),
        ("train_shuffled", ("explain", not_cam)),
        when=lambda c: data_randomisation(c),
        datasets=layered,
    ),
    "report": Rule(
        (),
        (
            "eda",
            "train",
            "import_model",
            "train_gap",
            "evaluate",
            "explain",
            "faithfulness_summary",
            "explain_summary",
            "occlusion_study",
            "lime_study",
            "robustness",
            "activations",
            "feature_vis",
            "map_quality_summary",
            "map_quality_replicates",
        ),
    ),
    "all": Rule((), ("report",)),
    # A condition on a `reads` entry limits it to some jobs of the reading rule (CAM's jobs read the
    # GAP model of train_gap, the others the plain model of train or import_model); `when` gives a rule jobs
    # only under some configs (train_gap only when CAM is in the study), `datasets` only for some datasets
    # (train or import_model by model.checkpoint; TorchScript models skip the rules that read inner layers).
}

# The script each rule runs (tests/test_plumbing.py checks this against the workflow).
RULE_SCRIPTS: dict[str, str] = {rule: rule for rule in RULES if rule != "all"}


def package_users(path: str) -> list[tuple[str, dict]]:
    """The jobs (rule, wildcard filter) whose code hash covers package file ``path`` (``src/posthoc/...``),
    derived from the scripts' imports the way rules/common.smk does (``posthoc.dependencies``)."""
    from posthoc.data import KINDS
    from posthoc.dependencies import relative_files, script_modules

    config = yaml.safe_load((ROOT / "configs" / "test.yaml").read_text())
    users = []
    for rule, script in RULE_SCRIPTS.items():
        base = script_modules(ROOT / "scripts" / f"{script}.py")
        if rule == "explain":  # each job adds its method's module
            users += [(rule, {"method": m}) for m in TRAITS if path in relative_files(*base, f"explain.{m}")]
        elif rule == "prepare_data":  # each job adds its dataset kind's module
            users += [
                (rule, {"dataset": d})
                for d, spec in config["datasets"].items()
                if spec["data"]["kind"] in KINDS and path in relative_files(*base, f"data.{spec['data']['kind']}")
            ]
        elif path in relative_files(*base):
            users.append((rule, {}))
    return users


# Files of the repository -> the jobs that use them directly, as (rule, wildcard filter) pairs.
# Editing one must rerun exactly these jobs and what depends on them. Package files: derived from the
# imports (as the workflow does); rule scripts: Snakemake tracks them itself.
CODE_USERS: dict[str, list[tuple[str, dict]]] = {
    **{
        path: package_users(path)
        for path in (
            "src/posthoc/report/template.html.j2",
            "src/posthoc/explain/gradcam.py",
            "src/posthoc/data/mnist1d.py",
            "src/posthoc/metrics/__init__.py",
            "src/posthoc/plots/lime.py",
        )
    },
    "scripts/train.py": [("train", {})],
}
# What the derivation must give for these files (a check of the derivation itself).
EXPECTED_USERS = {
    "src/posthoc/report/template.html.j2": [("report", {})],
    "src/posthoc/explain/gradcam.py": [
        ("explain", {"method": "gradcam"}),
        ("explain", {"method": "guided_gradcam"}),
        ("robustness", {}),
    ],
    "src/posthoc/data/mnist1d.py": [("prepare_data", {"dataset": "mnist1d"})],
    "src/posthoc/metrics/__init__.py": [
        ("evaluate", {}),
        ("faithfulness", {}),
        ("map_quality", {}),
        ("map_quality_summary", {}),
        ("replicate_quality", {}),
        ("map_quality_replicates", {}),
        ("data_randomisation", {}),
    ],
    "src/posthoc/plots/lime.py": [("lime_study", {})],  # the LIME figures, nothing else
}

# Explanation method -> rules besides explain[method] that read its parameters (all their jobs).
PARAMETER_READERS: dict[str, list[str]] = {
    "integrated_gradients": ["explain_summary"],
    "occlusion": ["occlusion_study"],
    "lime": ["lime_study"],
}

# Rules that ask for a GPU (their config resource group has gpu: 1 in configs/test.yaml).
GPU_RULES = {
    "train",
    "train_gap",
    "explain",
    "occlusion_study",
    "lime_study",
    "robustness",
    "activations",
    "feature_vis",
    "map_quality",
    "train_replicate",
    "train_shuffled",
    "replicate_quality",
    "data_randomisation",
}


def wildcard_values(config: dict) -> dict[str, list[str]]:
    """The values each wildcard takes under ``config``."""
    return {
        "dataset": list(config["datasets"]),
        "method": list(config["methods"]),
        "replicate": [str(r) for r in range(1, replicates(config))],
    }


class Job(NamedTuple):
    rule: str
    wildcards: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.rule + ("[" + ",".join(f"{k}={v}" for k, v in self.wildcards) + "]" if self.wildcards else "")


def job(rule: str, **wildcards: str) -> Job:
    return Job(rule, tuple(sorted(wildcards.items())))


def all_jobs(config: dict) -> set[Job]:
    """Every job of the study under ``config``, derived from ``RULES``."""
    values = wildcard_values(config)
    jobs = set()
    for name, rule in RULES.items():
        if not rule.when(config):
            continue
        for combo in itertools.product(*(values[w] for w in rule.wildcards)):
            wildcards = dict(zip(rule.wildcards, combo))
            if "dataset" not in wildcards or rule.datasets(config, wildcards["dataset"]):
                jobs.add(job(name, **wildcards))
    return jobs


def jobs_of(config: dict, rule: str, **wildcards: str) -> set[Job]:
    """The jobs of ``rule`` whose wildcards include ``wildcards`` (all of them if none given)."""
    return {j for j in all_jobs(config) if j.rule == rule and set(wildcards.items()) <= set(j.wildcards)}


def reads(consumer: Job, producer: Job) -> bool:
    """Whether ``consumer`` reads an output of ``producer`` (per ``RULES``)."""
    a, b = dict(consumer.wildcards), dict(producer.wildcards)
    for entry in RULES[consumer.rule].reads:
        name, condition = entry if isinstance(entry, tuple) else (entry, None)
        if name == producer.rule and (condition is None or condition({**b, **a})):
            return all(a[k] == b[k] for k in a.keys() & b.keys())
    return False


def rule_edges(config: dict) -> set[tuple[str, str]]:
    """(producer, consumer) rule pairs with at least one job-level edge under ``config``."""
    jobs = all_jobs(config)
    return {(p.rule, c.rule) for c in jobs for p in jobs if reads(c, p)}


def downstream(seeds: Iterable[Job], config: dict) -> set[Job]:
    """``seeds`` and every job that (transitively) reads their outputs."""
    universe = all_jobs(config)
    result = set(seeds)
    unknown = result - universe
    assert not unknown, f"not jobs of this study: {sorted(map(str, unknown))}"
    frontier = set(result)
    while frontier:
        frontier = {j for j in universe - result if any(reads(j, s) for s in frontier)}
        result |= frontier
    return result


def code_users(config: dict, path: str) -> set[Job]:
    """The jobs that use the repository file ``path`` directly (per ``CODE_USERS``)."""
    return set().union(*(jobs_of(config, rule, **wc) for rule, wc in CODE_USERS[path]))


def parameter_readers(config: dict, method: str) -> set[Job]:
    """The jobs that read explanation method ``method``'s parameters."""
    readers = jobs_of(config, "explain", method=method)
    return readers.union(*(jobs_of(config, rule) for rule in PARAMETER_READERS.get(method, [])))


# --- reading Snakemake's output ------------------------------------------------------------------

_RULE_LINE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


class PrintedJob(NamedTuple):
    job: Job
    jobid: int | None
    resources: dict[str, str]


def printed_jobs(text: str) -> list[PrintedJob]:
    """The jobs Snakemake printed (``rule X:`` blocks of a dry run or a real run), in order."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = _RULE_LINE.match(line)
        if not m:
            continue
        fields = {}
        for detail in lines[i + 1 :]:
            if not detail.startswith("    "):
                break
            key, _, value = detail.strip().partition(": ")
            fields[key] = value
        wildcards = dict(kv.split("=", 1) for kv in fields["wildcards"].split(", ")) if fields.get("wildcards") else {}
        resources = dict(kv.split("=", 1) for kv in fields["resources"].split(", ")) if fields.get("resources") else {}
        jobid = int(fields["jobid"]) if "jobid" in fields else None
        found.append(PrintedJob(job(m.group(1), **wildcards), jobid, resources))
    return found


def job_stats(text: str) -> dict[str, int]:
    """The first "Job stats" table Snakemake printed, as rule -> count (without the total)."""
    m = re.search(r"^Job stats:\njob\s+count\n[- ]+\n((?:\S+\s+\d+\n)+)", text, re.M)
    if not m:
        return {}
    rows = dict(line.split() for line in m.group(1).splitlines())
    rows.pop("total", None)
    return {k: int(v) for k, v in rows.items()}


def rulegraph_edges(dot: str) -> set[tuple[str, str]]:
    """(producer, consumer) rule pairs from ``snakemake --rulegraph``."""
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.M))
    return {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M)}


# --- running Snakemake -------------------------------------------------------------------------


def run_snakemake(
    workdir: Path,
    *args: str,
    configfile: Path,
    snakefile: Path = ROOT / "Snakefile",
    profile: Path | None = None,
    check: bool = True,
    timeout: int = 600,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run Snakemake on ``snakefile`` in ``workdir``; ``profile`` defaults to the Snakefile's profiles/default."""
    profile = profile or snakefile.parent / "profiles" / "default"
    cmd = [
        SNAKEMAKE,
        "-s",
        str(snakefile),
        "-d",
        str(workdir),
        "--configfile",
        str(configfile),
        "--workflow-profile",
        str(profile),
        *args,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PYTHONHASHSEED="0", **(env or {}))
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def jobs_to_run(workdir: Path, configfile: Path, snakefile: Path = ROOT / "Snakefile") -> set[Job]:
    """The jobs ``snakemake -n`` would run in ``workdir`` (the empty set when nothing is to be done)."""
    proc = run_snakemake(workdir, "-n", "--cores", "2", configfile=configfile, snakefile=snakefile)
    out = proc.stdout + proc.stderr
    printed = printed_jobs(out)
    jobs = {p.job for p in printed}
    stats = job_stats(out)
    # Cross-check the two things Snakemake printed: each job once, and as many as its job table says.
    assert len(jobs) == len(printed) == sum(stats.values()), out[-6000:]
    if not jobs:
        assert "Nothing to be done" in out, out[-6000:]
    return jobs
