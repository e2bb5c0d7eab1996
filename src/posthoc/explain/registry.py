"""What each explanation method is, declared once in its own module as ``METHOD = Method(...)``.

Everything outside a method's module that needs to know about the method — the workflow's rules
(which model it explains, extra outputs), the explain stages (figure kind, class dependence), the
report (caption) and the tests — reads these traits instead of method names. Adding a method touches
its module, its test, its schema entry and a README row.

The workflow reads the traits when it is parsed, without importing torch: :func:`declared` reads
every ``METHOD = Method(...)`` statically (all fields but ``fn`` are literals);
``posthoc.explain.METHODS`` imports the modules and holds the same traits with the function.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent

#: folder (under results/{dataset}/) of each model a method may explain; the rule that trains it
EXPLAINED_MODELS = {"model": "train", "model_gap": "train_gap"}
FIGURES = ("maps", "reconstructions")


@dataclass(frozen=True)
class Method:
    """Traits of one explanation method.

    ``fn(model, x, target, layers, **params) -> Attribution``; ``layered``: one map per explained
    layer (else one map, ``layers == ["input"]``); ``class_independent``: the map ignores the target
    class (left out of per-class figures); ``explains``: the model folder it explains (and is scored
    on), a key of :data:`EXPLAINED_MODELS`; ``figure``: its per-method figure, heat maps or
    channel-resolved reconstructions; ``signed``: its maps can be negative; ``extra_outputs``: output
    keys of rule explain_summary it adds (file ``explanations/{name}_{key}.csv``); ``caption``: what its
    per-method figure shows; ``params``: its config keys (``methods.<name>`` in the schema);
    ``dataset_params``: keys it takes from the dataset's own section ``datasets.<dataset>.<name>``
    instead (values in that input's units, e.g. occlusion windows); ``torchscript``: it gives the same maps on a TorchScript
    model (``model.checkpoint`` compiled with ``torch.jit``) as on the eager one — it needs no inner layer, no
    ReLU override and no rebuilt model.
    """

    name: str
    fn: Callable[..., Any] | str
    layered: bool
    class_independent: bool = False
    explains: str = "model"
    figure: str = "maps"
    signed: bool = False
    extra_outputs: tuple[str, ...] = ()
    caption: str = ""
    params: tuple[str, ...] = ("target",)
    dataset_params: tuple[str, ...] = ()
    torchscript: bool = False

    def __post_init__(self):
        if self.explains not in EXPLAINED_MODELS:
            raise ValueError(f"method {self.name}: explains={self.explains!r}, not one of {sorted(EXPLAINED_MODELS)}")
        if self.figure not in FIGURES:
            raise ValueError(f"method {self.name}: figure={self.figure!r}, not one of {FIGURES}")


def _declaration(path: Path) -> Method | None:
    """The ``METHOD = Method(...)`` of one module, read without importing it (``fn`` as "module:function")."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["METHOD"]
            and isinstance(node.value, ast.Call)
        ):
            kwargs = {}
            for kw in node.value.keywords:
                if kw.arg == "fn":
                    kwargs["fn"] = f"posthoc.explain.{path.stem}:{ast.unparse(kw.value)}"
                else:
                    kwargs[kw.arg] = ast.literal_eval(kw.value)
            return Method(**kwargs)
    return None


def declared(folder: Path = HERE) -> dict[str, Method]:
    """Every method declared in the modules of ``folder``, by name (static read; no torch import)."""
    found = {}
    for path in sorted(folder.glob("*.py")):
        method = _declaration(path)
        if method is not None:
            if method.name != path.stem:
                raise ValueError(f"{path}: METHOD.name {method.name!r} must be the module name {path.stem!r}")
            found[method.name] = method
    return found


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Method))
