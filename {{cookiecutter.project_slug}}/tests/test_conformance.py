"""The project against the real Hopsworks SDK: every call we make exists with the arguments we pass.

Runs where the ``hopsworks`` extra is installed (CI makes such an environment); elsewhere it
is skipped with that reason. Calls are found by reading the pipelines and the UI, not from a
hand-kept list, so a new call is checked the day it is written.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

pytest.importorskip(
    "hopsworks", reason="the hopsworks extra is not installed (CI runs this in its own environment)"
)

import local_hopsworks as local  # noqa: E402
from local_hopsworks import feature_group, feature_view, query, registry  # noqa: E402

import {{ cookiecutter.package_name }} as package  # noqa: E402

PACKAGE_DIR = Path(package.__file__).parent
PROJECT_DIR = PACKAGE_DIR.parents[1]
# Every module of the package, found by glob: a new module is scanned the day it is written.
SOURCES = [*sorted(PACKAGE_DIR.rglob("*.py")), PROJECT_DIR / "app.py"]


def sdk_classes() -> dict[str, object]:
    """Return the SDK classes (and the create_model module) the project talks to."""
    from hopsworks_common.project import Project
    from hsfs.constructor.query import Query
    from hsfs.feature_group import FeatureGroup
    from hsfs.feature_store import FeatureStore
    from hsfs.feature_view import FeatureView
    from hsml.model import Model
    from hsml.model_registry import ModelRegistry
    from hsml.python import signature as python_models

    return {
        "Project": Project,
        "FeatureStore": FeatureStore,
        "FeatureGroup": FeatureGroup,
        "FeatureView": FeatureView,
        "Query": Query,
        "ModelRegistry": ModelRegistry,
        "Model": Model,
        "python": python_models,
    }


# The local class standing in for each SDK class.
LOCAL_TWINS = {
    "Project": local.LocalProject,
    "FeatureStore": local.FeatureStore,
    "FeatureGroup": feature_group.FeatureGroup,
    "FeatureView": feature_view.FeatureView,
    "Query": query.Query,
    "ModelRegistry": registry.ModelRegistry,
    "Model": registry.Model,
    "python": registry.ModelApi,
}


def sdk_calls() -> list[tuple[str, int, str, int, list[str] | None]]:
    """Return (file, line, method, positional count, keyword names) of each method call in the sources.

    A call with ``*args`` or ``**kwargs`` has keyword names None (and positional count -1).
    """
    calls = []
    for path in SOURCES:
        if not path.exists():
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if isinstance(node.func.value, ast.Constant):
                continue  # "sep".join(...) and the like
            if any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords
            ):
                # *args / **kwargs: seen, but nothing to bind statically (the SDK-run tests call it)
                calls.append((str(path.relative_to(PROJECT_DIR)), node.lineno, node.func.attr, -1, None))
                continue
            calls.append(
                (
                    str(path.relative_to(PROJECT_DIR)),
                    node.lineno,
                    node.func.attr,
                    len(node.args),
                    [k.arg for k in node.keywords],
                )
            )
    return calls


def attribute_reads() -> list[tuple[str, int, str]]:
    """Return (file, line, name) of each attribute read (``x.name`` not called) in the sources."""
    reads = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and id(node) not in called:
                reads.append((str(path.relative_to(PROJECT_DIR)), node.lineno, node.attr))
    return reads


def _public_names(target: object) -> set[str]:
    return {name for name in dir(target) if not name.startswith("_")}


def _binds(target: object, method: str, positional: int, keywords: list[str]) -> bool:
    function = getattr(target, method)
    try:
        signature = inspect.signature(function)
    except ValueError:
        return True  # a C builtin (dict.update): no signature to hold the call against
    args = [None] * (positional + (0 if inspect.ismodule(target) else 1))  # +1: self
    try:
        signature.bind(*args, **dict.fromkeys(keywords))
    except TypeError:
        return False
    return True


# Method names the SDK shares with pandas and builtins (df.to_dict, dict.update, df.filter, ...): without
# types, a call of one of these passes when it fits either owner. Every other name is the SDK's alone.
SHARED_OWNERS = (dict, list, str, "pandas.DataFrame", "pandas.Series")


def _shared_owners() -> list[object]:
    import pandas as pd

    return [
        pd.DataFrame if o == "pandas.DataFrame" else pd.Series if o == "pandas.Series" else o
        for o in SHARED_OWNERS
    ]


def test_every_sdk_call_of_the_project_exists_with_our_arguments():
    classes = sdk_classes()
    shared = _shared_owners()
    checked, problems = set(), []
    for file, line, method, positional, keywords in sdk_calls():
        owners = {name: cls for name, cls in classes.items() if callable(getattr(cls, method, None))}
        if not owners or method.startswith("_"):
            continue
        checked.add(method)
        if keywords is None:
            continue
        others = [o for o in shared if callable(getattr(o, method, None))]
        if not any(_binds(cls, method, positional, keywords) for cls in [*owners.values(), *others]):
            problems.append(
                f"{file}:{line} {method}(<{positional} positional>, {keywords}) fits none of {sorted(owners)}"
            )
    assert not problems, "\n".join(problems)
    # The scan must actually see the pipelines' store calls.
    assert {"get_or_create_feature_group", "insert", "get_or_create_feature_view", "create_model"} <= checked


def test_login_is_called_with_arguments_the_sdk_accepts():
    import hopsworks

    parameters = inspect.signature(hopsworks.login).parameters
    assert {"api_key_value", "host", "project"} <= set(parameters)


@pytest.mark.parametrize("name", sorted(LOCAL_TWINS))
def test_local_store_signatures_match_the_sdk(name):
    sdk, twin = sdk_classes()[name], LOCAL_TWINS[name]
    problems = []
    for method, local_function in inspect.getmembers(twin, callable):
        if method.startswith("_") or not callable(getattr(sdk, method, None)):
            continue
        ours = inspect.signature(local_function).parameters
        theirs = inspect.signature(getattr(sdk, method)).parameters
        var_keyword = any(p.kind is p.VAR_KEYWORD for p in ours.values())
        for pname, param in ours.items():
            if pname == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            if pname not in theirs:
                problems.append(f"{method}: parameter {pname!r} does not exist in the SDK")
                continue
            theirs_default = theirs[pname].default
            both = param.default is not param.empty and theirs_default is not param.empty
            if both and param.default != theirs_default:
                problems.append(
                    f"{method}: default of {pname!r} is {param.default!r}, SDK has {theirs_default!r}"
                )
        for pname, param in theirs.items():
            if pname == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            if pname not in ours and not var_keyword:
                problems.append(f"{method}: SDK parameter {pname!r} is not accepted locally")
        positional = lambda params: [  # noqa: E731
            p
            for p, v in params.items()
            if v.kind in (v.POSITIONAL_ONLY, v.POSITIONAL_OR_KEYWORD) and p != "self"
        ]
        ours_pos, theirs_pos = positional(ours), positional(theirs)
        if ours_pos != theirs_pos[: len(ours_pos)]:
            problems.append(f"{method}: positional order {ours_pos} differs from the SDK's {theirs_pos}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_scan_covers_every_module_of_the_package():
    scanned = {path.relative_to(PACKAGE_DIR).as_posix() for path in SOURCES if PACKAGE_DIR in path.parents}
    assert {"catalog.py", "lifecycle/aliases.py", "ops/freshness.py", "store/__init__.py", "ui.py"} <= scanned
    assert scanned == {p.relative_to(PACKAGE_DIR).as_posix() for p in PACKAGE_DIR.rglob("*.py")}


def test_no_attribute_or_method_the_project_uses_exists_on_the_twin_only():
    # What the twin offers and the SDK lacks (Model.feature_view_name, ...) works locally and raises
    # AttributeError on Hopsworks: every name the project reads or calls must exist on some SDK class.
    sdk = set().union(*(_public_names(cls) for cls in sdk_classes().values()))
    twin_only = set().union(*(_public_names(cls) for cls in LOCAL_TWINS.values())) - sdk
    used = [(file, line, name) for file, line, name in attribute_reads() if name in twin_only]
    used += [(file, line, method) for file, line, method, _, _ in sdk_calls() if method in twin_only]
    problems = [
        f"{file}:{line} .{name} exists on the local twin only, not on the SDK" for file, line, name in used
    ]
    assert not problems, "\n".join(sorted(set(problems)))
