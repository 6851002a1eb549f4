"""Every hook of connector.hookspecs is documented in README.md and exercised by some test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector import hookspecs

TESTS = Path(__file__).parent
README = TESTS.parent / "README.md"


def hook_names() -> list[str]:
    return sorted(
        name for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, "fal_connector_spec")
    )


def test_there_are_hooks():
    assert {"register_actions", "execute_action", "prepare_request", "retry_policy", "action_event"} <= set(hook_names())


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_in_readme(name):
    if not README.exists():
        pytest.skip("README.md does not exist yet (the lead is writing it)")
    assert re.search(rf"\b{name}\b", README.read_text(encoding="utf-8")), f"README.md does not mention the hook {name}"


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_used_by_a_test(name):
    me = Path(__file__).resolve()
    sources = [p for p in TESTS.rglob("*.py") if p.resolve() != me]
    pattern = re.compile(rf"def {name}\(")  # a hookimpl in a test or a test plugin
    assert any(pattern.search(p.read_text(encoding="utf-8")) for p in sources), f"no test implements the hook {name}"
