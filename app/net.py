"""The client's address, taken from X-Forwarded-For only when a trusted proxy set it."""

from __future__ import annotations

from flask import request


def client_address() -> str:
    """The address rate limits and logs use.

    ProxyFix (configured by PROXY_FIX_HOPS) has already replaced `remote_addr` when the app sits
    behind a known number of proxies, so a spoofed X-Forwarded-For changes nothing here.
    """
    return request.remote_addr or "unknown"
