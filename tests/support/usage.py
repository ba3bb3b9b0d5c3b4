"""Read a test gateway's usage rows from its SQLite file, waiting for the batched writer."""

from __future__ import annotations

import contextlib
import sqlite3
import time

from tests.support.gateway import GatewayProcess

__all__ = ["usage_rows"]


def usage_rows(
    gw: GatewayProcess, request_ids: list[str], timeout: float = 15
) -> dict[str, tuple[int, str | None]]:
    """``request_id -> (status, error_code)`` once every id has its row (or at ``timeout``,
    with what is there: the caller's assertion then shows what is missing)."""
    deadline = time.monotonic() + timeout
    found: dict[str, tuple[int, str | None]] = {}
    marks = ",".join("?" * len(request_ids))
    query = f"SELECT request_id, status, error_code FROM usage WHERE request_id IN ({marks})"
    while time.monotonic() < deadline:
        try:
            with contextlib.closing(sqlite3.connect(gw.data_dir / "visiongate.db")) as db:
                found = {
                    rid: (status, code) for rid, status, code in db.execute(query, request_ids)
                }
        except sqlite3.OperationalError:  # the table is created at start-up
            found = {}
        if len(found) >= len(request_ids):
            break
        time.sleep(0.05)
    return found
