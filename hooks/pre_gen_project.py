"""Refuse unsafe or unusable answers before cookiecutter writes the project's files.

Runs after the answers are known and before any template file is rendered. Every problem
is printed to stderr as ``ERROR: <field>: <rule> (got <value>)`` and the hook exits 1,
which makes cookiecutter stop and delete the project directory it has just created.

Template inputs are data, never code: a text answer that holds Jinja syntax is refused,
and so is any answer that cookiecutter would have had to evaluate as Jinja to use.

Standard library only: the hook runs with the interpreter that runs cookiecutter.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata

# Cookiecutter renders this file with Jinja before it runs it. The two assignments below
# hold the only template expressions, each inside a raw string, so the unrendered file is
# still valid Python: tests import it with importlib and call validate() directly. Only
# main() parses the strings, which are JSON once rendered (`tojson` escapes quotes, so a
# value can never close the string).
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# The answers as given, before cookiecutter evaluated them as Jinja; cookiecutter keeps
# them as `_cookiecutter`. Tools that call generate_files() directly (e.g. cruft) may not
# set it, then there is nothing to check here and the rendered answers are checked alone.
RAW_ANSWERS_JSON = r"""{{ _cookiecutter | default({}) | tojson }}"""

# {% raw %} Everything from here to the end is copied verbatim: it may name template syntax.

SLUG_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
SLUG_RE = re.compile(SLUG_PATTERN)
# Pasted into Python source as a float literal: ASCII digits, no leading zeros (`047` is
# a syntax error in Python 3), no exponent, no `nan`/`inf`.
NUMBER_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEMPLATE_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}")

# The template's own derived defaults, verbatim from cookiecutter.json (a test keeps them in
# sync). They are the only answers allowed to be Jinja expressions.
TEMPLATE_EXPRESSIONS = {
    "project_slug": "{{ cookiecutter.project_name | slugify }}",
    "package_name": "{{ cookiecutter.project_slug | replace('-', '_') }}",
}
CHOICES: dict[str, tuple[str, ...]] = {"scheduler": ("modal", "github-actions")}
# Free text, pasted into Python, TOML, YAML and Markdown of the generated project.
TEXT_FIELDS = ("project_name", "description", "author_name", "author_email", "location_name")
REQUIRED_TEXT_FIELDS = ("project_name", "location_name")
COORDINATES = {"latitude": 90, "longitude": 180}
# Top-level modules the generated project imports; a package of the same name would shadow them.
RUNTIME_MODULES = frozenset(
    {
        "deltalake",
        "gradio",
        "hopsworks",
        "matplotlib",
        "modal",
        "numpy",
        "pandas",
        "pyarrow",
        "pydantic",
        "pydantic_settings",
        "requests",
        "xgboost",
    }
)


def _problem(field: str, rule: str, value: object) -> str:
    return f"{field}: {rule} (got {value!r})"


def _has_template_syntax(value: str) -> bool:
    return any(marker in value for marker in TEMPLATE_MARKERS)


def _has_control_characters(value: str) -> bool:
    # Categories C* are control, format (e.g. bidi overrides), surrogate, private use and
    # unassigned; Zl/Zp are the Unicode line and paragraph separators.
    return any(unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in {"Zl", "Zp"} for ch in value)


def _text_rule(value: str) -> str | None:
    """Return the first rule a free-text answer breaks, or None."""
    if _has_control_characters(value):
        return "must not contain newlines or control characters"
    if _has_template_syntax(value):
        return "must not contain template syntax ({{ }}, {% %}, {# #}); template inputs are data"
    if '"' in value or "\\" in value:
        return "must not contain '\"' or '\\' (values are pasted into Python, TOML and YAML strings)"
    return None


def _slug_rule(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if "/" in value or "\\" in value:
        return "must not contain '/' or '\\'"
    if value in (".", ".."):
        return "must not be '.' or '..'"
    if ".." in value:
        return "must not contain '..'"
    if not SLUG_RE.match(value):
        return f"must match {SLUG_PATTERN} (lowercase ASCII words joined by single '-')"
    return None


def _package_rule(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if not (value.isidentifier() and value.isascii()):
        return "must be a valid ASCII Python identifier"
    if keyword.iskeyword(value):
        return "must not be a Python keyword"
    if value != value.lower():
        return "must be lowercase"
    if value in sys.stdlib_module_names:
        return "must not shadow a standard-library module"
    if value in RUNTIME_MODULES:
        return "must not shadow a module the generated project depends on"
    return None


def location_key(name: str) -> str:
    """Return the store key the generated project builds from a location name ('Zürich' -> 'zurich').

    The same rule as ``location_key`` in the project's settings.py: accents dropped (NFKD),
    ASCII letters and digits kept, anything else a '_'. '' when no Latin letter or digit is left.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")


def _coordinate_rule(value: object, limit: int) -> str | None:
    rule = f"must be a decimal number between -{limit} and {limit}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return rule
    text = str(value)
    if not NUMBER_RE.match(text) or not -limit <= float(text) <= limit:
        return rule
    return None


def _raw_problems(raw: dict) -> list[str]:
    """Refuse answers that cookiecutter had to evaluate as Jinja.

    The template's own derived defaults (TEMPLATE_EXPRESSIONS) are expressions by design
    and pass; anything else holding template syntax came from a user and is refused.
    """
    problems = []
    for field, value in raw.items():
        if field.startswith("_") or not isinstance(value, str) or not _has_template_syntax(value):
            continue
        if value == TEMPLATE_EXPRESSIONS.get(field):
            continue
        problems.append(_problem(field, "must be plain text, not a template expression", value))
    return problems


def validate(answers: dict, raw: dict | None = None) -> list[str]:
    """Return one ``"<field>: <rule> (got <value>)"`` line per bad answer; empty if all are good.

    ``answers`` are the rendered answers (``cookiecutter`` in the context), ``raw`` the
    answers before cookiecutter rendered them (``_cookiecutter``). Per field only the first
    broken rule is reported: later rules assume the earlier ones hold. Pure, never raises.
    """
    problems = _raw_problems(raw or {})
    if problems:
        # The rendered answers were produced by running the refused expressions.
        return problems

    for field in TEXT_FIELDS:
        value = answers.get(field)
        if not isinstance(value, str):
            problems.append(_problem(field, "must be text", value))
            continue
        rule = _text_rule(value)
        if rule is None and field in REQUIRED_TEXT_FIELDS and not value.strip():
            rule = "must not be empty"
        if rule is None and field == "location_name" and not location_key(value):
            rule = (
                "must contain a Latin letter or digit: the project keys its data by them "
                "('Zürich' -> 'zurich'); write the name in Latin script, e.g. 'Beijing' for '北京'"
            )
        if rule is None and field == "author_email" and not EMAIL_RE.match(value):
            rule = "must look like an e-mail address (name@domain.tld)"
        if rule is not None:
            problems.append(_problem(field, rule, value))

    for field, check in (("project_slug", _slug_rule), ("package_name", _package_rule)):
        value = answers.get(field)
        rule = check(value) if isinstance(value, str) else "must be text"
        if rule is not None:
            problems.append(_problem(field, rule, value))

    for field, limit in COORDINATES.items():
        value = answers.get(field)
        rule = _coordinate_rule(value, limit)
        if rule is not None:
            problems.append(_problem(field, rule, value))

    for field, choices in CHOICES.items():
        value = answers.get(field)
        if value not in choices:
            problems.append(_problem(field, f"must be one of {', '.join(choices)}", value))

    return problems


def main() -> None:
    answers = json.loads(ANSWERS_JSON)
    raw = json.loads(RAW_ANSWERS_JSON)
    problems = validate(answers, raw=raw)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()

# {% endraw %}
