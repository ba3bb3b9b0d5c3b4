"""The official SDK clients the tests talk to the gateway with, closed after each test.

An SDK client left to the garbage collector closes its pooled sockets in its own
finalizer, but a cycle's finalizers run in no fixed order: the socket's may run first
and raise ``ResourceWarning`` (an error here) inside whatever later test triggers that
collection. Every client made here is closed when its test ends (``tests/conftest.py``)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

__all__ = ["anthropic_client", "close_opened_since", "openai_client", "opened"]

_OPEN: list[openai.OpenAI | anthropic.Anthropic] = []


def openai_client(base_url: str, api_key: str, **kw: Any) -> openai.OpenAI:
    """An ``openai.OpenAI`` that makes one attempt and waits at most 60 s by default."""
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 60)
    client = openai.OpenAI(base_url=base_url, api_key=api_key, **kw)
    _OPEN.append(client)
    return client


def anthropic_client(base_url: str, api_key: str, **kw: Any) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` with the same defaults as :func:`openai_client`."""
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 60)
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, **kw)
    _OPEN.append(client)
    return client


def opened() -> int:
    """A mark: the clients made after it are the ones :func:`close_opened_since` closes."""
    return len(_OPEN)


def close_opened_since(mark: int) -> None:
    """Close the clients made since ``mark`` (one made by a wider-scoped fixture before
    the mark stays open for the tests that share it)."""
    while len(_OPEN) > mark:
        _OPEN.pop().close()
