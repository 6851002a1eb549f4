"""An agent's ``download_file`` fetches only from public addresses.

A URL an agent passes (or a redirect it leads to) whose host resolves to a loopback, private,
link-local or otherwise non-public address (``127.0.0.1``, ``10.x``, ``192.168.x``,
``169.254.169.254`` cloud metadata, ``::1``, ``fc00::/7``, IPv4-mapped forms of these) is
refused as ``policy_denied`` with ``detail.rule`` ``public_addresses``: a model-driven tool call
must not reach the services on the caller's own machine or network. The origins of the
configured fal base URLs are exempt, so a local emulator keeps working. ``run()`` and the CLI
are not limited: a program chooses its own URLs.

The host is resolved when the URL is checked; the connection resolves it again. A name whose
answer changes in between (DNS rebinding) is not caught by this check.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from connector.config import Config, origin_of
from connector.errors import ActionError

RULE = "public_addresses"
HOSTS = ("queue", "run", "api", "jwks", "rest", "cdn")  # every configured base URL


def configured_origins(config: Config) -> set[tuple[str, str, int]]:
    """The (scheme, host, port) origins of every configured fal base URL (the emulator's, in tests)."""
    return {origin_of(config.base_url(h)) for h in HOSTS}


def non_public_address(url: str) -> tuple[str, str] | None:
    """The first address of ``url``'s host that is not public, with what it is; None when every
    address is public or the host does not resolve (the request then fails by itself)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global:
            kind = ("loopback" if address.is_loopback else "link-local" if address.is_link_local
                    else "private" if address.is_private else "not public")
            return str(address), kind
    return None


def check_agent_url(action_id: str, url: str, config: Config) -> None:
    """Raise ``policy_denied`` when an agent may not fetch ``url`` (see the module docstring)."""
    if origin_of(url) in configured_origins(config):
        return
    found = non_public_address(url)
    if found is None:
        return
    address, kind = found
    raise ActionError(
        "policy_denied",
        f"{action_id} refused: an agent may download only from public addresses ({RULE}), and "
        f"{url[:200]!r} resolves to {address} ({kind}); nothing was sent",
        detail={"rule": RULE, "url": url[:2000], "address": address},
    )
