"""Keyword plumbing and one source of defaults, checked against the loaded workflow and the schema.

* every rule's named inputs, outputs, params (less the reserved ``code``) and wildcards are exactly the
  keyword-only parameters of the stage its script runs (``posthoc.stages.<stage>.run``);
* every method module declares its traits (``METHOD``), statically readable the same as imported;
* no function default of a config-driven parameter differs from the schema's default.
"""

import ast
import importlib
import inspect
from pathlib import Path

import pytest
import yaml
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

from conftest import ROOT, TEST_CONFIG
from posthoc.dependencies import package_files, script_modules
from posthoc.explain.registry import declared
from posthoc.rule import RESERVED

SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    """name -> (named keys, script path) of every rule of the workflow under configs/test.yaml."""
    workdir = tmp_path_factory.mktemp("workflow")
    with SnakemakeApi(OutputSettings(quiet=set())) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[TEST_CONFIG]),
            storage_settings=StorageSettings(),
            snakefile=ROOT / "Snakefile",
            workdir=workdir,
        )
        found = {}
        for rule in wf._workflow.rules:
            if rule.script is None:
                continue
            keys = [*rule.input._names, *rule.output._names, *rule.params._names, *rule.wildcard_names]
            found[rule.name] = (keys, (ROOT / "rules" / rule.script).resolve())
    return found


def stage_of(script: Path):
    modules = [m for m in script_modules(script) if m.startswith("posthoc.stages.")]
    assert len(modules) == 1, f"{script.name} must run exactly one stage, imports {modules}"
    return importlib.import_module(modules[0]).run


def test_rule_keys_are_the_stage_keywords(rules):
    assert rules, "no rule with a script found"
    for name, (keys, script) in rules.items():
        assert len(keys) == len(set(keys)), f"rule {name}: a key is used twice in {keys}"
        params = inspect.signature(stage_of(script)).parameters.values()
        positional = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        assert not positional, f"{script.name}'s stage takes {positional} positionally; make them keyword-only"
        wanted = {p.name for p in params}
        required = {p.name for p in params if p.default is inspect.Parameter.empty}
        given = set(keys) - RESERVED
        assert given <= wanted, f"rule {name} passes {sorted(given - wanted)}, which its stage does not take"
        assert required <= given, f"rule {name} does not pass {sorted(required - given)}, which its stage needs"


def test_methods_declare_their_traits_once():
    from posthoc.explain import METHODS

    static = declared()
    assert set(static) == set(METHODS)
    for name, method in METHODS.items():
        assert static[name] == method.__class__(**{**method.__dict__, "fn": static[name].fn}), name
        assert static[name].fn == f"{method.fn.__module__}:{method.fn.__name__}"
        assert name in SCHEMA["properties"]["methods"]["properties"], f"method {name} has no schema entry"


def _schema_params(method: str) -> dict:
    spec = SCHEMA["properties"]["methods"]["properties"][method]
    if "$ref" in spec:
        spec = SCHEMA["$defs"][spec["$ref"].rsplit("/", 1)[1]]
    return spec.get("properties", {})


@pytest.mark.parametrize("method", sorted(declared()))
def test_method_defaults_are_the_schema_defaults(method):
    from posthoc.explain import METHODS

    traits, schema = METHODS[method], _schema_params(method)
    assert set(traits.params) == set(schema), f"METHOD.params of {method} differ from its schema entry"
    own = SCHEMA["$defs"]["dataset"]["properties"].get(method, {}).get("properties", {})
    assert set(traits.dataset_params) <= set(own), f"{method}: dataset_params missing from datasets.<name>.{method}"
    schema = {**schema, **{key: own[key] for key in traits.dataset_params}}
    signature = inspect.signature(traits.fn).parameters
    for name, param in signature.items():
        if name in schema and param.default is not inspect.Parameter.empty:
            assert param.default == schema[name].get("default"), (
                f"{method}: default {name}={param.default!r} differs from the schema's {schema[name].get('default')!r}"
            )


def _config_defaults() -> dict:
    """Every schema default of a config key outside ``methods``, by key name (ambiguous names dropped)."""
    found, clash = {}, set()

    def walk(node):
        if isinstance(node, dict):
            for key, spec in (node.get("properties") or {}).items():
                if isinstance(spec, dict) and "default" in spec and not isinstance(spec["default"], (dict, list)):
                    if key in found and found[key] != spec["default"]:
                        clash.add(key)
                    found.setdefault(key, spec["default"])
                walk(spec)
            for value in node.values():
                if isinstance(value, dict) and value is not node.get("properties"):
                    walk(value)

    walk({k: v for k, v in SCHEMA.items() if k != "$defs"})
    return {k: v for k, v in found.items() if k not in clash}


def test_stage_functions_take_config_values_without_defaults():
    """Stages get every config value from their rule: none has a default of a config key."""
    keys = _config_defaults()
    for path in sorted((ROOT / "src" / "posthoc" / "stages").glob("*.py")):
        module = importlib.import_module(f"posthoc.stages.{path.stem}")
        run = getattr(module, "run", None)
        if run is None:
            continue
        for name, param in inspect.signature(run).parameters.items():
            if name in keys:
                assert param.default is inspect.Parameter.empty, f"{path.name}: run({name}=...) has a default"


def test_library_defaults_agree_with_the_schema():
    """Library functions named after a config key default to the schema's value (or have no default)."""
    own = SCHEMA["$defs"]["dataset"]["properties"]  # keys a method takes from datasets.<name>.<method>
    method_keys = {k: v.get("default") for m in declared() for k, v in _schema_params(m).items() if "default" in v}
    method_keys |= {
        k: v.get("default")
        for m, traits in declared().items()
        for k, v in own.get(m, {}).get("properties", {}).items()
        if k in traits.dataset_params and "default" in v
    }
    disagreements = []
    for path in (ROOT / "src" / "posthoc").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in {
                "plan_rows",
                "scan",
                "segment",
                "occlusion",
                "lime",
                "integrated_gradients",
            }:
                args = node.args.args + node.args.kwonlyargs
                defaults = (
                    [None] * (len(node.args.args) - len(node.args.defaults))
                    + node.args.defaults
                    + node.args.kw_defaults
                )
                for arg, default in zip(args, defaults):
                    ref = method_keys.get(arg.arg, "absent")  # these functions take method settings only
                    if default is not None and ref != "absent":
                        value = ast.literal_eval(default)
                        if value != ref:
                            disagreements.append(f"{path.name}:{node.name}({arg.arg}={value!r}) vs schema {ref!r}")
    assert not disagreements, disagreements


def test_code_hash_follows_imports():
    files = {p.relative_to(ROOT / "src" / "posthoc").as_posix() for p in package_files("stages.robustness")}
    assert {"explain/gradcam.py", "robustness.py", "stages/explain.py"} <= files
    assert "explain/lime.py" not in files, "a registry package must not make its importers depend on every method"
    assert "report/template.html.j2" in {
        p.name and p.relative_to(ROOT / "src" / "posthoc").as_posix() for p in package_files("stages.report")
    }


def test_job_table_scripts_and_code_users(rules):
    """tests/jobgraph.py's rule -> script table is the workflow's; its derived code users are the known ones."""
    import jobgraph

    assert {r: s.stem for r, (_, s) in rules.items()} == jobgraph.RULE_SCRIPTS
    for path, expected in jobgraph.EXPECTED_USERS.items():
        assert sorted(map(str, jobgraph.CODE_USERS[path])) == sorted(map(str, expected)), path
