"""Which files of the package a module runs: a static, transitive walk of its imports.

The workflow declares, for each rule, a content hash of the package files its script runs (a
``params`` entry, so that editing a module reruns exactly the rules that import it, while moving or
re-cloning the checkout changes no path Snakemake records and reruns nothing). Imports are read
from the source (``ast``), also those inside functions; a package's ``__init__`` counts for every
module imported from it. Two exceptions keep the granularity of one job per method:

* a package ``__init__`` that collects registered submodules (explanation methods: modules that
  declare ``METHOD = ...``) does not make its importers depend on those submodules; a rule that runs
  a method by name adds the method's module itself (``explain.<method>``);
* modules imported by name at run time (``importlib``, e.g. the dataset kinds) are added the same way.

Non-Python files beside an included module (e.g. the report's Jinja template) are included too.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name
DATA_SUFFIXES = (".j2", ".yaml", ".json", ".html", ".css")


def _file(module: str) -> Path | None:
    """The source file of a dotted module name of the package (None outside it or when absent)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def _registered(path: Path) -> bool:
    """Whether a module declares ``METHOD = ...`` (a registered submodule)."""
    return any(
        isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["METHOD"]
        for n in ast.parse(path.read_text(encoding="utf-8")).body
    )


@lru_cache(maxsize=None)
def _direct(path: Path) -> frozenset[str]:
    """Package modules ``path`` imports directly (absolute dotted names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_init = path.name == "__init__.py"
    package = _name(path) if is_init else _name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names if _file(f"{origin}.{alias.name}"))
    found = {m for m in found if _file(m)}
    if is_init:  # a registry package: its registered submodules are added per job, not for every importer
        found = {m for m in found if not (m.startswith(_name(path) + ".") and _registered(_file(m)))}
    return frozenset(found)


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def package_files(*modules: str) -> list[Path]:
    """Every package file the ``modules`` (dotted names, with or without the ``posthoc.`` prefix) run, sorted."""
    todo = [m if m.split(".")[0] == PACKAGE else f"{PACKAGE}.{m}" for m in modules]
    missing = [m for m in todo if _file(m) is None]
    if missing:
        raise ValueError(f"not modules of the {PACKAGE} package: {missing}")
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        for name in _with_parents(module):
            if name not in seen and _file(name):
                seen.add(name)
                todo.extend(_direct(_file(name)))
    files = {_file(m) for m in seen}
    for directory in {f.parent for f in files}:
        files.update(p for p in directory.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES)
    return sorted(files)


def script_modules(script: str | Path) -> list[str]:
    """The package modules a file outside the package (a rule script) imports directly."""
    tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names if _file(f"{node.module}.{a.name}"))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return sorted(m for m in names if _file(m))


def relative_files(*modules: str) -> list[str]:
    """:func:`package_files` as paths relative to the repository (``src/posthoc/...``)."""
    root = PACKAGE_DIR.parents[1]
    return [p.relative_to(root).as_posix() for p in package_files(*modules)]


def content_hash(*modules: str) -> str:
    """SHA-256 over the package-relative path and content of every file :func:`package_files` lists."""
    digest = hashlib.sha256()
    for path in package_files(*modules):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
