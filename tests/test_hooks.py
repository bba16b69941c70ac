"""Tests of the cookiecutter hooks: answer validation, the prune table, the CLI refusing bad input."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from hypothesis import given
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_JSON = json.loads((REPO / "cookiecutter.json").read_text(encoding="utf-8"))


def load_hook(name: str) -> ModuleType:
    """Import hooks/<name>.py unrendered: its Jinja sits in strings only main() parses."""
    spec = importlib.util.spec_from_file_location(f"hook_{name}", REPO / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")


@pytest.fixture(scope="module")
def defaults() -> dict:
    """The answers cookiecutter renders from cookiecutter.json with --no-input."""
    context = generate_context(context_file=str(REPO / "cookiecutter.json"))
    return dict(prompt_for_config(context, no_input=True))


def problems_for(defaults: dict, **changes: object) -> list[str]:
    return pre.validate({**defaults, **changes})


# ---------------------------------------------------------------------------- validate


def test_defaults_are_valid(defaults: dict) -> None:
    assert defaults["project_slug"] == "air-quality-forecast"
    assert defaults["package_name"] == "air_quality_forecast"
    assert pre.validate(defaults) == []


def test_template_expressions_match_cookiecutter_json() -> None:
    for field, expression in pre.TEMPLATE_EXPRESSIONS.items():
        assert expression == TEMPLATE_JSON[field], f"update TEMPLATE_EXPRESSIONS[{field!r}] in the hook"


def test_choices_match_cookiecutter_json() -> None:
    for field, choices in pre.CHOICES.items():
        assert set(choices) == set(TEMPLATE_JSON[field]), field


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("project_slug", "", "must not be empty"),
        ("project_slug", "a/b", "must not contain '/'"),
        ("project_slug", "a\\b", "must not contain '/' or '\\'"),
        ("project_slug", "../evil", "must not contain '/'"),
        ("project_slug", ".", "must not be '.' or '..'"),
        ("project_slug", "..", "must not be '.' or '..'"),
        ("project_slug", "a..b", "must not contain '..'"),
        ("project_slug", "Air", "must match"),
        ("project_slug", "1air", "must match"),
        ("project_slug", "air--quality", "must match"),
        ("project_slug", "air-", "must match"),
        ("project_slug", "air_quality", "must match"),
        ("project_slug", "luft-qualität", "must match"),
        ("package_name", "", "must not be empty"),
        ("package_name", "air-quality", "must be a valid ASCII Python identifier"),
        ("package_name", "1air", "must be a valid ASCII Python identifier"),
        ("package_name", "qualität", "must be a valid ASCII Python identifier"),
        ("package_name", "class", "must not be a Python keyword"),
        ("package_name", "None", "must not be a Python keyword"),
        ("package_name", "Air", "must be lowercase"),
        ("package_name", "json", "must not shadow a standard-library module"),
        ("package_name", "email", "must not shadow a standard-library module"),
        ("package_name", "modal", "must not shadow a module the generated project depends on"),
        ("project_name", "", "must not be empty"),
        ("project_name", "   ", "must not be empty"),
        ("project_name", "Air\nQuality", "must not contain newlines or control characters"),
        ("project_name", "Air\rQuality", "must not contain newlines or control characters"),
        ("project_name", "Air\x00", "must not contain newlines or control characters"),
        ("project_name", "Air\u2028Quality", "must not contain newlines or control characters"),
        ("project_name", "Air\u202eQuality", "must not contain newlines or control characters"),
        ("project_name", "{{ 7*7 }}", "must not contain template syntax"),
        ("project_name", "a {% if x %}", "must not contain template syntax"),
        ("project_name", "a }} b", "must not contain template syntax"),
        ("project_name", "a %} b", "must not contain template syntax"),
        ("project_name", 'Air "Quality"', "must not contain '\"'"),
        ("description", "line\nbreak", "must not contain newlines or control characters"),
        ("description", "{# hidden #}", "must not contain template syntax"),
        ("description", "C:\\path", "must not contain '\"' or '\\'"),
        ("author_name", "Ann\tLee", "must not contain newlines or control characters"),
        ("author_name", "{{ cookiecutter }}", "must not contain template syntax"),
        ("author_email", "you@example.com\n", "must not contain newlines or control characters"),
        ("author_email", "not-an-email", "must look like an e-mail address"),
        ("location_name", "", "must not be empty"),
        ("location_name", "--", "must contain a Latin letter or digit"),
        ("location_name", "北京", "must contain a Latin letter or digit"),
        ("location_name", "Москва", "must contain a Latin letter or digit"),
        ("location_name", "Oslo\n", "must not contain newlines or control characters"),
        ("location_name", "{% raw %}", "must not contain template syntax"),
        ("latitude", "", "must be a decimal number between -90 and 90"),
        ("latitude", "abc", "must be a decimal number between -90 and 90"),
        ("latitude", "90.01", "must be a decimal number between -90 and 90"),
        ("latitude", "-91", "must be a decimal number between -90 and 90"),
        ("latitude", "nan", "must be a decimal number between -90 and 90"),
        ("latitude", "inf", "must be a decimal number between -90 and 90"),
        ("latitude", "1e1", "must be a decimal number between -90 and 90"),
        ("latitude", "047", "must be a decimal number between -90 and 90"),
        ("latitude", "4_7", "must be a decimal number between -90 and 90"),
        ("latitude", "\u0664\u0667", "must be a decimal number between -90 and 90"),
        ("latitude", True, "must be a decimal number between -90 and 90"),
        ("longitude", "180.5", "must be a decimal number between -180 and 180"),
        ("longitude", "-181", "must be a decimal number between -180 and 180"),
        ("longitude", "1;import os", "must be a decimal number between -180 and 180"),
        ("scheduler", "cron", "must be one of modal, github-actions"),
        ("scheduler", ["modal"], "must be one of modal, github-actions"),
    ],
)
def test_each_rule_refuses(defaults: dict, field: str, value: object, rule: str) -> None:
    problems = problems_for(defaults, **{field: value})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{field}: {rule}"), problems
    assert problems[0].endswith(f"(got {value!r})"), problems


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("project_slug", "a"),
        ("project_slug", "air2-quality-3"),
        ("package_name", "air_quality_2"),
        ("package_name", "_private"),
        ("project_name", "Zürich Air"),
        ("author_name", "Seán O'Brien"),
        ("author_email", "a.b+c@sub.example.org"),
        ("description", ""),
        ("location_name", "São Paulo"),
        ("latitude", "-90"),
        ("latitude", "0"),
        ("latitude", "-0.5"),
        ("latitude", 47.37),
        ("longitude", "180"),
        ("longitude", "-179.999"),
        ("longitude", 8),
        ("scheduler", "github-actions"),
    ],
)
def test_good_values_pass(defaults: dict, field: str, value: object) -> None:
    assert problems_for(defaults, **{field: value}) == []


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Zürich", "zurich"),
        ("São Paulo", "sao_paulo"),
        ("Val d'Isère", "val_d_isere"),
        ("Kraków 2", "krakow_2"),
    ],
)
def test_location_key_transliterates_accents(name: str, key: str) -> None:
    assert pre.location_key(name) == key


def test_missing_answers_are_reported_not_raised() -> None:
    problems = pre.validate({})
    fields = {problem.split(":", 1)[0] for problem in problems}
    assert fields == {*pre.TEXT_FIELDS, "project_slug", "package_name", "latitude", "longitude", "scheduler"}


def test_every_bad_field_is_reported(defaults: dict) -> None:
    problems = problems_for(defaults, project_slug="../x", package_name="class", latitude="100")
    assert [problem.split(":", 1)[0] for problem in problems] == ["project_slug", "package_name", "latitude"]


def test_raw_template_expressions_are_refused(defaults: dict) -> None:
    """`{{ 7*7 }}` given on the command line reaches the hook already rendered as "49"."""
    raw = {**TEMPLATE_JSON, "project_name": "{{ 7*7 }}"}
    rendered = {**defaults, "project_name": "49"}
    problems = pre.validate(rendered, raw=raw)
    assert problems == ["project_name: must be plain text, not a template expression (got '{{ 7*7 }}')"]


def test_template_own_derived_defaults_are_allowed(defaults: dict) -> None:
    raw = {key: value for key, value in TEMPLATE_JSON.items() if not key.startswith("_")}
    assert "{{" in raw["project_slug"]
    assert pre.validate(defaults, raw=raw) == []


def test_user_expressions_in_derived_fields_are_refused(defaults: dict) -> None:
    raw = {**TEMPLATE_JSON, "project_slug": "{{ 'air-quality-forecast' }}"}
    problems = pre.validate(defaults, raw=raw)
    assert problems == [
        "project_slug: must be plain text, not a template expression (got \"{{ 'air-quality-forecast' }}\")"
    ]


@given(st.from_regex(pre.SLUG_RE, fullmatch=True))
def test_any_slug_matching_the_pattern_passes(slug: str) -> None:
    assert pre._slug_rule(slug) is None


@given(st.text(), st.sampled_from(["\n", "\r", "\x1b", "\x7f", "\u200b", "\u2029"]), st.text())
def test_control_characters_anywhere_are_refused(before: str, control: str, after: str) -> None:
    assert pre._text_rule(before + control + after) == "must not contain newlines or control characters"


@given(
    st.dictionaries(
        st.sampled_from(
            [*pre.TEXT_FIELDS, "project_slug", "package_name", "latitude", "longitude", "scheduler"]
        ),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.text())),
    )
)
def test_validate_never_raises(answers: dict) -> None:
    assert isinstance(pre.validate(answers, raw=answers), list)


# ------------------------------------------------------------------------- prune table


def test_prune_table_covers_every_choice() -> None:
    for field in {field for field, _ in post.PRUNE}:
        assert field in pre.CHOICES, f"PRUNE field {field!r} is not a choice field"
        listed = {value for f, value in post.PRUNE if f == field}
        assert listed == set(TEMPLATE_JSON[field]), (
            f"PRUNE entries for {field!r} != choices in cookiecutter.json"
        )


def test_prune_table_paths_are_relative() -> None:
    for key, paths in post.PRUNE.items():
        assert len(paths) == len(set(paths)), key
        for path in paths:
            post._check_relative(path)  # raises PruneError


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside", "a/../../b", "a\\b", ""])
def test_prune_refuses_paths_outside_the_project(bad: str) -> None:
    with pytest.raises(post.PruneError, match="relative"):
        post._check_relative(bad)


def _fake_project(root: Path) -> Path:
    every_path = {path for paths in post.PRUNE.values() for path in paths}
    for path in every_path | {"README.md", "tests/test_other.py"}:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("choice", TEMPLATE_JSON["scheduler"])
def test_prune_deletes_exactly_the_listed_paths(tmp_path: Path, choice: str) -> None:
    project = _fake_project(tmp_path)
    before = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    deleted = post.prune(project, {"scheduler": choice})
    after = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert deleted == post.PRUNE[("scheduler", choice)]
    assert after == before - set(deleted)
    # Directories emptied by the prune go too (e.g. .github/workflows/), the project root stays.
    assert all(any(d.iterdir()) for d in project.rglob("*") if d.is_dir())
    assert project.is_dir()


def test_prune_fails_on_a_missing_path_and_deletes_nothing(tmp_path: Path) -> None:
    project = _fake_project(tmp_path)
    first, *rest = post.PRUNE[("scheduler", "github-actions")]
    (project / first).unlink()
    with pytest.raises(post.PruneError, match=first.replace(".", r"\.")):
        post.prune(project, {"scheduler": "github-actions"})
    assert all((project / path).exists() for path in rest)


def test_prune_fails_on_a_value_without_entry(tmp_path: Path) -> None:
    with pytest.raises(post.PruneError, match="no PRUNE entry for 'cron'"):
        post.prune(tmp_path, {"scheduler": "cron"})


def test_record_keeps_public_answers_and_template(tmp_path: Path) -> None:
    answers = {
        "project_name": "Zürich Air",
        "scheduler": "modal",
        "_template": "gh:me/cookiecutter-serverless-ml",
        "_output_dir": "build/out",
        "_copy_without_render": [],
        "__prompts__": {},
    }
    path = post.write_record(tmp_path, answers)
    assert path.name == ".cookiecutter.json"
    assert path.read_text(encoding="utf-8") == (
        "{\n"
        '  "_template": "gh:me/cookiecutter-serverless-ml",\n'
        '  "project_name": "Zürich Air",\n'
        '  "scheduler": "modal"\n'
        "}\n"
    )
    assert "_template" not in post.record({"project_name": "x"})


def test_tool_caches_are_removed(tmp_path: Path) -> None:
    for cache in ["src/pkg/__pycache__/m.pyc", "src/pkg/.ruff_cache/CACHEDIR.TAG", ".pytest_cache/x"]:
        (tmp_path / cache).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / cache).write_text("x", encoding="utf-8")
    (tmp_path / "src/pkg/m.py").write_text("x", encoding="utf-8")
    post.remove_tool_caches(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "src",
        "src/pkg",
        "src/pkg/m.py",
    ]


# -------------------------------------------------------------------------------- CLI


def run_cookiecutter(
    tmp_path: Path, *answers: str, template: str = str(REPO), cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the cookiecutter CLI on this repo into tmp_path/out, with a throwaway user config."""
    user = tmp_path / "user"
    user.mkdir()
    config = user / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(user / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(user / 'replay'))}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "cookiecutter", template, "--no-input", "--config-file", str(config)]
    proc = subprocess.run(
        [*command, "-o", str(out), *answers],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, out


@pytest.mark.parametrize(
    ("answer", "expected_error"),
    [
        ("project_slug=../evil", "ERROR: project_slug: must not contain '/' or '\\' (got '../evil')"),
        ("package_name=class", "ERROR: package_name: must not be a Python keyword (got 'class')"),
        (
            "project_name=Air\nQuality",
            "ERROR: project_name: must not contain newlines or control characters (got 'Air\\nQuality')",
        ),
        (
            "project_name={{ 7*7 }}",
            "ERROR: project_name: must be plain text, not a template expression (got '{{ 7*7 }}')",
        ),
        (
            "location_name=北京",
            "ERROR: location_name: must contain a Latin letter or digit: the project keys its data by them",
        ),
    ],
    ids=["slug-traversal", "package-keyword", "name-newline", "name-jinja", "location-no-latin"],
)
def test_cli_refuses_bad_answer(tmp_path: Path, answer: str, expected_error: str) -> None:
    proc, out = run_cookiecutter(tmp_path, answer)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert expected_error in proc.stderr, output
    assert "'49'" not in output, "the answer must never be evaluated into the project"
    assert list(out.iterdir()) == [], "nothing may be generated"
    # `../evil` resolves next to the output folder: cookiecutter creates it before the hook
    # runs and must have deleted it again.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "user"]


def test_cli_defaults_pass_validation_from_a_relative_template_path(tmp_path: Path) -> None:
    """`cookiecutter .` (as make demo runs it) must accept the template's own derived defaults."""
    proc, _ = run_cookiecutter(tmp_path, template=".", cwd=REPO)
    output = proc.stdout + proc.stderr
    # Only the pre-generation hook is under test here; the full bake is tests/test_bake.py.
    assert "pre_gen_project" not in output, output
    assert "ERROR: project_slug" not in output, output
    assert "ERROR: package_name" not in output, output


def test_cli_bakes_shell_and_quote_characters_as_data(tmp_path: Path) -> None:
    """Quotes, single braces and shell syntax in answers end up as text, never run: inputs are data."""
    canary = tmp_path / "PWNED"  # where a shell running an answer in the working folder would create it
    payload = "$(touch PWNED) `touch PWNED`; touch PWNED | cat & echo {x} {0}"
    answers = {
        "project_name": f"Air 'Q' {payload}",
        "location_name": f"Val d'Isère {payload}",
        "author_name": f"Seán O'Brien & Sons {payload}",
        "description": f"It's {payload} <b>bold</b>",
    }
    proc, out = run_cookiecutter(tmp_path, *(f"{k}={v}" for k, v in answers.items()), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not canary.exists(), "an answer was executed by a shell"
    (project,) = out.iterdir()
    for path in project.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")  # every module is valid Python
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == answers["description"]
    assert pyproject["project"]["authors"][0]["name"] == answers["author_name"]
    package = project / "src" / project.name.replace("-", "_")
    settings = (package / "settings.py").read_text(encoding="utf-8")
    assert f'Field("{answers["location_name"]}", min_length=1' in settings
    recorded = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))
    assert {k: recorded[k] for k in answers} == answers
    # At run time the name is a plain value too.
    code = f"from {package.name}.settings import Settings; print(Settings(_env_file=None).location_name)"
    env = {"PYTHONPATH": str(project / "src"), "PATH": ""}
    command = [sys.executable, "-c", code]
    shown = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == answers["location_name"]
    assert not canary.exists() and not any(p.name == "PWNED" for p in tmp_path.rglob("*"))
