"""LazyApp: built once on first use, off the event loop, whatever arrives meanwhile."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from visiongate.api.lazy import ASGIApp, LazyApp

pytestmark = pytest.mark.timeout(10)


class Recorder:
    """A built app that records the requests it answered."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "done", "path": scope["path"]})


async def _call(app: LazyApp, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path}, None, send)
    return sent


async def test_concurrent_first_requests_share_one_build_made_off_the_loop() -> None:
    release = threading.Event()
    builds: list[str] = []
    built: list[int] = []
    inner = Recorder()

    def build() -> ASGIApp:
        builds.append(threading.current_thread().name)
        assert release.wait(5)
        return inner

    app = LazyApp(build, lambda: built.append(len(inner.paths)))
    waiters = [asyncio.create_task(_call(app, f"/{i}")) for i in range(5)]
    await asyncio.sleep(0.05)
    # The loop is free while the build runs: this coroutine got here.
    assert not app.built and not any(w.done() for w in waiters)
    release.set()
    answers = await asyncio.gather(*waiters)
    assert [a[0]["path"] for a in answers] == [f"/{i}" for i in range(5)]
    assert len(builds) == 1 and builds[0] != threading.current_thread().name
    assert built == [0]  # on_built ran once, before any request reached the app
    await _call(app, "/again")
    assert len(builds) == 1 and built == [0]


async def test_a_failed_build_reaches_every_waiter_and_the_next_request_retries() -> None:
    attempts: list[int] = []

    def build() -> ASGIApp:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("broken install")
        return Recorder()

    app = LazyApp(build, lambda: None)
    results = await asyncio.gather(_call(app, "/a"), _call(app, "/b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert not app.built
    assert (await _call(app, "/c"))[0]["path"] == "/c"
    assert len(attempts) == 2 and app.built


async def test_a_cancelled_waiter_does_not_cancel_the_build_for_the_others() -> None:
    release = threading.Event()

    def build() -> ASGIApp:
        assert release.wait(5)
        return Recorder()

    app = LazyApp(build, lambda: None)
    first = asyncio.create_task(_call(app, "/first"))
    second = asyncio.create_task(_call(app, "/second"))
    await asyncio.sleep(0.05)
    first.cancel()
    release.set()
    assert (await second)[0]["path"] == "/second"
    with pytest.raises(asyncio.CancelledError):
        await first
