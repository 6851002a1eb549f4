"""README.md and the repository's documentation say only what is true.

Both ways, read from the live code: every command, flag, environment variable and action the
README mentions exists (argparse parser of ``connector.cli``, ``connector.config``, the
manifest), and every one that exists is documented. Code blocks marked ``<!-- runnable -->``
run against the emulator. No text points at documents that are not in the repository, the
fixtures describe themselves in ``pytest --fixtures``, and the LICENSE matches pyproject.toml.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from suite_helpers import REPO, subprocess_env

import connector.config
import connector.testing
from connector import Connector
from connector.cli import _parser
from connector.errors import FAILURE_TYPES

ROOT = Path(REPO)
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG_SOURCE = Path(connector.config.__file__).read_text(encoding="utf-8")
RUNNABLE = "<!-- runnable -->"


# -- what the README says ----------------------------------------------------------------------


def code_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language, code, marked runnable) of every fenced block."""
    blocks = []
    for match in re.finditer(r"(?P<before>[^\n]*)\n```(?P<lang>\w*)\n(?P<code>.*?)\n```", "\n" + text, re.S):
        blocks.append((match["lang"], match["code"], match["before"].strip() == RUNNABLE))
    return blocks


def inline_code(text: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def cli_invocations(text: str) -> list[list[str]]:
    """The words after ``fal-connector`` in each command line of the README (shell blocks and
    inline code), up to a pipe, redirection, ``&&`` or comment."""
    lines = [line for lang, code, _ in code_blocks(text) if lang in ("bash", "sh", "") for line in code.splitlines()]
    lines += inline_code(text)
    found = []
    for line in lines:
        lexer = shlex.shlex(line.replace("…", ""), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # an inline fragment with an unbalanced quote is not a command
            continue
        for i, token in enumerate(tokens):
            if token == "fal-connector" or token.endswith("/fal-connector"):
                words = []
                for word in tokens[i + 1:]:
                    if word and set(word) <= set("|&;<>()"):
                        break
                    words.append(word.strip("[]"))
                found.append(words)
    return found


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def options(parser: argparse.ArgumentParser) -> set[str]:
    """The flags ``--help`` shows (hidden, deprecated spellings are left out)."""
    return {flag for action in parser._actions if action.help != argparse.SUPPRESS for flag in action.option_strings}


def action_names() -> tuple[set[str], set[str]]:
    with Connector(environ={}, load_entry_points=False) as conn:
        actions = conn.actions()
    return {a["id"] for a in actions}, {alias for a in actions for alias in a["aliases"]}


# -- README -> code ----------------------------------------------------------------------------


def test_the_readme_mentions_commands():
    assert len(cli_invocations(README)) >= 10  # the parser below really looks at something


@pytest.mark.parametrize("words", cli_invocations(README), ids=lambda w: " ".join(w)[:60] or "(none)")
def test_every_documented_command_and_flag_exists(words):
    subs = subcommands()
    top = options(_parser())
    if not words or words[0].startswith("-"):
        assert all(w.split("=")[0] in top for w in words if w.startswith("--")), words
        return
    assert words[0] in subs, f"README mentions `fal-connector {words[0]}`, which is not a command"
    known = options(subs[words[0]]) | top
    for word in words[1:]:
        if word.startswith("-") and word != "-":
            assert word.split("=")[0] in known, f"`fal-connector {words[0]}` has no option {word}"
    ids, aliases = action_names()
    if words[0] in ("run", "describe") and len(words) > 1 and not words[1].startswith("-"):
        assert words[1] in ids | aliases or words[1].isupper()  # ACTION: a placeholder, f"README runs an unknown action {words[1]!r}"


def test_every_documented_environment_variable_exists():
    ids, aliases = action_names()
    for name in sorted(set(re.findall(r"\bFAL_[A-Z0-9_]*[A-Z0-9]\b", README))):
        if name.startswith("FAL_AI_"):  # an action alias, not a setting
            assert name in aliases, f"README names the alias {name}, which no action has"
        else:
            assert f'"{name}"' in CONFIG_SOURCE, f"README names {name}, which connector/config.py does not read"


def test_every_documented_action_exists():
    ids, aliases = action_names()
    table = README.split("### Actions", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    for id_cell, alias_cell in rows:
        assert id_cell.strip().strip("`") in ids, id_cell
        for alias in re.findall(r"`([^`]+)`", alias_cell):
            assert alias in aliases, alias
    for name in re.findall(r"""\b(?:run|call_tool|stream|describe)\(\s*["']([^"']+)["']""", README):
        assert name in ids | aliases, f"README calls the unknown action {name!r}"


# -- code -> README (read live, so flags, settings and actions added later must be documented) --


def test_every_command_and_flag_is_documented():
    for name, parser in subcommands().items():
        assert f"fal-connector {name}" in README, f"the command `fal-connector {name}` is not in README.md"
        for flag in options(parser) - {"-h", "--help"}:
            if flag.startswith("--"):
                assert re.search(rf"{re.escape(flag)}\b", README), f"`fal-connector {name} {flag}` is not in README.md"
    for flag in options(_parser()) - {"-h", "--help"}:
        assert flag in README, f"the option {flag} is not in README.md"


def test_every_setting_is_documented():
    configuration = README.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    for keyword, variable in connector.config._ENV.items():
        assert f"`{variable}`" in configuration and f"`{keyword}`" in configuration, variable
    for variable in ("FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"):
        assert f"`{variable}`" in configuration, variable


def test_every_action_is_in_the_actions_table():
    ids, _ = action_names()
    table = README.split("### Actions", 1)[1]
    for action_id in ids:
        assert f"| `{action_id}` |" in table, f"the action {action_id} is not in README's Actions table"


def test_every_failure_type_is_documented():
    failures = README.split("### Failures", 1)[1].split("\n### ", 1)[0]
    for failure_type in FAILURE_TYPES:
        assert f"| `{failure_type}` |" in failures, f"failure.type {failure_type} is not in README's Failures table"


def test_sections_come_in_the_order_people_need_them():
    headings = re.findall(r"^## (.+)$", README, re.M)
    order = ["Python in ten lines", "Command line", "Point it at the emulator", "Use with agents", "Plugins",
             "Testing your own workflows", "Examples", "Reference", "Performance", "Security", "Design"]
    assert [h for h in headings if h in order] == order, headings
    assert README.index("pip install . && fal-connector demo") < README.index("## Python in ten lines")
    python = [code for lang, code, _ in code_blocks(README.split("## Python in ten lines", 1)[1]) if lang == "python"][0]
    assert len(python.splitlines()) <= 10


# -- runnable blocks ---------------------------------------------------------------------------


RUNNABLE_BLOCKS = [(lang, code) for lang, code, runnable in code_blocks(README) if runnable]


def test_the_runnable_blocks_are_found():
    assert {lang for lang, _ in RUNNABLE_BLOCKS} == {"python", "bash"} and len(RUNNABLE_BLOCKS) >= 4


def fixtures_plugin_args() -> list[str]:
    """``-p connector.testing`` unless the installed entry point already loads the fixtures."""
    names = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    return [] if "connector.testing" in names else ["-p", "connector.testing"]


@pytest.mark.parametrize("lang, code", RUNNABLE_BLOCKS, ids=lambda v: v.splitlines()[0][:40] if "\n" in v else v)
def test_runnable_block_runs_on_the_emulator(lang, code, fal_emulator, tmp_path):
    env = subprocess_env(fal_emulator)
    if lang == "bash":
        script = shutil.which("fal-connector", path=str(Path(sys.executable).parent))
        if script is None:
            pytest.skip("fal-connector is not installed next to this Python")
        env["PATH"] = str(Path(script).parent) + ":" + env.get("PATH", "")
        command = ["bash", "-euo", "pipefail", "-c", code]
    elif "def test_" in code:
        (tmp_path / "test_readme_block.py").write_text(code, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *fixtures_plugin_args(), "test_readme_block.py"]
    else:
        command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    if lang == "python" and "policy_denied" not in code:  # a block printing a failure type did not succeed
        assert not set(re.findall(r"\w+", done.stdout)) & FAILURE_TYPES, done.stdout


# -- hygiene -----------------------------------------------------------------------------------


# Documents that are not in the repository (spelled in pieces so this file does not match itself).
OUTSIDE_REFERENCES = re.compile("|".join([r"CONTRACT\s*§", "FAL" + r"_API(?![_A-Z])", r"\b[Ii]ssue\s+#?\d", r"\bissue\s+\""]))


def repository_texts() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "manifest.yaml"]
    for folder in ("connector", "tests", "bench", "examples", "schemas"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".json", ".yaml", ".toml")
                  and p.is_file() and "__pycache__" not in p.parts and "results" not in p.parts]
    return sorted(set(files))


def test_no_references_to_documents_outside_the_repository():
    offenders = []
    for path in repository_texts():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE_REFERENCES.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_readme_links_point_at_files_in_the_repository():
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


def fixture_functions(path: Path) -> list[ast.FunctionDef]:
    def is_fixture(decorator: ast.expr) -> bool:
        node = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(node, ast.Attribute) and node.attr == "fixture") or (isinstance(node, ast.Name) and node.id == "fixture")

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and any(is_fixture(d) for d in n.decorator_list)]


def test_fixtures_have_docstrings_for_pytest_fixtures():
    paths = [Path(connector.testing.__file__), *sorted((ROOT / "tests").rglob("conftest.py"))]
    missing = [f"{p.name}:{f.name}" for p in paths for f in fixture_functions(p) if not ast.get_docstring(f)]
    assert not missing, missing
    assert {f.name for f in fixture_functions(Path(connector.testing.__file__))} == {"fal_emulator", "fal_connector"}


def test_pytest_fixtures_shows_the_product_fixtures(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider", *fixtures_plugin_args()],
                          cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    for name in ("fal_emulator", "fal_connector"):
        block = done.stdout.split(name, 1)[1].split("\n\n", 1)[0]
        assert "no docstring available" not in block and "Connector" in done.stdout


def test_license_matches_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, re.M)
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "fal-connector contributors" in license_text
