"""One request at a time with http.client: is the answer right, and how long did it take.

Run before each scenario's load, so a gateway that answers quickly but wrongly (an error,
a broken stream, a missing usage block) is caught rather than timed.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from typing import Any

import orjson

__all__ = ["probe"]


def probe(url: str, body: bytes, headers: dict[str, str], api: str, stream: bool) -> dict[str, Any]:
    """POST ``body``; ``api`` is the answer's format: "openai" (Chat Completions),
    "responses" (the Responses API) or "anthropic" (the Messages API)."""
    parts = urllib.parse.urlsplit(url)
    started = time.perf_counter()
    out: dict[str, Any] = {"ok": False}
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    try:
        conn.request(
            "POST", parts.path, body=body, headers={"Content-Type": "application/json", **headers}
        )
        resp = conn.getresponse()
        out["status"] = resp.status
        if stream and resp.status == 200:
            _read_stream(resp, api, started, out)
        else:
            data = resp.read()
            out["ok"], out["error"] = _check_json(resp.status, data, api)
    except (OSError, http.client.HTTPException) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    out["ms"] = round((time.perf_counter() - started) * 1000, 3)
    if out.get("error") is None:
        out.pop("error", None)
    return out


def _check_json(status: int, data: bytes, api: str) -> tuple[bool, str | None]:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        obj = None
    if status != 200 or not isinstance(obj, dict):
        return False, f"HTTP {status}: {data[:400].decode('utf-8', 'replace')}"
    if api == "openai":
        message = ((obj.get("choices") or [{}])[0]).get("message") or {}
        ok = bool(message.get("content")) and bool(obj.get("usage"))
    elif api == "responses":
        ok = obj.get("status") == "completed" and bool(obj.get("output")) and bool(obj.get("usage"))
    else:
        ok = obj.get("type") == "message" and bool(obj.get("content"))
    return ok, None if ok else f"unexpected answer: {data[:300]!r}"


def _read_stream(
    resp: http.client.HTTPResponse, api: str, started: float, out: dict[str, Any]
) -> None:
    chunks = 0
    first: float | None = None
    finished = False
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            finished = True
            continue
        event = orjson.loads(data)
        if api == "openai":
            if event.get("error"):
                out["error"] = f"error event: {data[:300]!r}"
                break
            content = any((c.get("delta") or {}).get("content") for c in event.get("choices") or [])
        elif api == "responses":
            if event.get("type") in ("error", "response.failed"):
                out["error"] = f"error event: {data[:300]!r}"
                break
            content = event.get("type") == "response.output_text.delta"
            finished = finished or event.get("type") == "response.completed"
        else:
            content = event.get("type") == "content_block_delta"
            finished = finished or event.get("type") == "message_stop"
        if content:
            chunks += 1
            first = first or time.perf_counter()
    out["content_chunks"] = chunks
    out["ttft_ms"] = round((first - started) * 1000, 3) if first else None
    out["ok"] = finished and chunks > 0 and "error" not in out
    if not out["ok"] and "error" not in out:
        out["error"] = f"incomplete stream: finished={finished}, content chunks={chunks}"
