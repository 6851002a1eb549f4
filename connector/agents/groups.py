"""Tool groups: which actions an agent platform is offered.

Every action belongs to one manifest ``group``; ``fal-connector mcp --groups queue,platform`` and
``export --groups …`` offer only the actions of those groups, so an agent's tool list (which
costs context on every turn) holds what the job needs. Without ``--groups`` the commands offer
the ``queue`` and ``models`` groups (submit, follow, fetch, files, models and prices: what a job
needs); ``--groups all`` offers every action. In Python, ``tool_specs(format)`` lists every action
unless given ``groups``.

``queue``     submit, follow, fetch, cancel, subscribe, run_model, upload_file, download_file
``models``    get_models, get_pricing, estimate_pricing
``platform``  request history and search, payload deletion, workflows
``account``   usage, analytics, billing events, balance
``storage``   signed file URLs
``webhooks``  get_jwks, verify_webhook
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

GROUPS = ("queue", "models", "platform", "account", "storage", "webhooks")
DEFAULT_GROUPS = frozenset({"queue", "models"})  # what the mcp and export commands offer without --groups


def parse_groups(text: str, known: Collection[str] = GROUPS) -> frozenset[str]:
    """``"queue,platform"`` as a set of group names; ValueError naming an unknown one."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"--groups needs at least one group: {', '.join(known)}")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown group(s) {', '.join(map(repr, unknown))}; the groups are: {', '.join(known)}")
    return frozenset(names)


def known_groups(connector: Any) -> tuple[str, ...]:
    """The built-in groups, then any a plugin action declares."""
    extra = [a.spec.group for a in map(connector.action, (s["id"] for s in connector.actions())) if a.spec.group not in GROUPS]
    return GROUPS + tuple(dict.fromkeys(extra))


def selected_groups(connector: Any, text: str | None) -> frozenset[str] | None:
    """``--groups`` as given on a command line: absent, the default groups; ``all``, None (every
    action)."""
    if text is None:
        return DEFAULT_GROUPS
    return None if text.strip() == "all" else parse_groups(text, known_groups(connector))


def in_groups(action: Any, groups: Collection[str] | None) -> bool:
    """Whether ``action`` is offered with ``groups`` (None: every action is)."""
    return groups is None or (action is not None and action.spec.group in groups)
