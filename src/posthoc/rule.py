"""Run one stage function as a Snakemake rule's script, passing everything by name.

A rule script is three lines::

    from posthoc.rule import run_rule
    from posthoc.stages.explain import run
    run_rule(run, snakemake)

The rule's named inputs, outputs, params and wildcards become the keyword arguments of ``run``
(one name from rule to stage: no positional lists, no renaming). The job's stdout/stderr go to its
log, torch uses the job's threads, glibc's allocator keeps freed buffers for reuse
(:func:`posthoc.runtime.pin_allocator`), and an expected failure (:class:`UserError`, e.g. a missing
file or a bad value) ends the log and the console with its one-sentence message instead of a
traceback.

Reserved names, never passed to the stage: ``code`` (a params entry holding the content hash of the
package files the rule's script runs, :func:`posthoc.dependencies.content_hash`: it makes Snakemake
rerun the rule when that code changes, and only then).

This module never imports Snakemake: ``job`` is any object with Snakemake's
``input``/``output``/``params``/``wildcards``/``log``/``threads`` attributes.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .logs import log_to, set_threads
from .runtime import pin_allocator

#: rule keys that are for Snakemake only (rerun triggers), not arguments of the stage
RESERVED = frozenset({"code"})


def named(job: Any) -> dict[str, Any]:
    """The rule's named inputs, outputs, params and wildcards as one keyword dict (a name used twice is an error;
    the :data:`RESERVED` names are left out)."""
    kwargs: dict[str, Any] = {}
    for part in ("input", "output", "params", "wildcards"):
        items = getattr(job, part, None)
        if items is None:
            continue
        pairs = items.items() if isinstance(items, Mapping) or hasattr(items, "items") else []
        for key, value in pairs:
            if key in RESERVED:
                continue
            if key in kwargs:
                raise TypeError(f"rule key {key!r} appears twice (in {part} and before); rename one of them")
            kwargs[key] = _plain(value)
    return kwargs


def _plain(value: Any) -> Any:
    """Snakemake's named lists become plain lists; single paths stay strings."""
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def run_rule(stage: Callable[..., Any], job: Any) -> Any:
    """Call ``stage(**named(job))`` inside the job's log; a UserError exits with its message only."""
    pin_allocator()
    log = list(getattr(job, "log", []) or [])
    with log_to(log[0] if log else None):  # a UserError ends the log and the console with its sentence
        set_threads(getattr(job, "threads", None))
        return stage(**named(job))
