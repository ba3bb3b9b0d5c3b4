"""``visiongate serve``: run the HTTP server (uvicorn with uvloop + httptools)."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

__all__ = ["register"]

log = logging.getLogger("visiongate")
_APP = "visiongate.app:factory"


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser("serve", help="start the HTTP server")
    add_config_arg(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from visiongate.observability.logging import configure_logging
    from visiongate.settings import ConfigError, load_settings
    from visiongate.workers import (
        STARTUP_FAILURE,
        Supervisor,
        balanced_workers_supported,
        listening_sockets,
        serve_on,
    )

    # Workers are separate processes that build their own app from the environment, so
    # the CLI's choices travel there as environment variables.
    if args.config:
        os.environ["VISIONGATE_CONFIG"] = os.path.abspath(args.config)
    try:
        settings = load_settings(strict=True, host=args.host, port=args.port, workers=args.workers)
    except ConfigError as exc:  # a typo stops the server rather than being ignored
        configure_logging("info")
        log.error("%s", exc)
        return STARTUP_FAILURE
    configure_logging(settings.log_level)
    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "loop": "visiongate.listener:GatewayLoop",  # uvloop, accepting greedily
        "http": "httptools",
        "lifespan": "on",
        "access_log": settings.access_log,
        "log_config": None,
        "timeout_graceful_shutdown": 30,
        "server_header": False,
    }
    if settings.workers > 1 and not balanced_workers_supported():
        # Where SO_REUSEPORT does not balance: uvicorn's supervisor, one shared socket.
        uvicorn.run(_APP, workers=settings.workers, **options)
        return 0
    # The sockets are bound here, not by uvicorn: one per worker (workers.py), and a socket
    # handed in is what the gateway's loop accepts from greedily (listener.py).
    config = uvicorn.Config(_APP, **options)
    try:
        sockets = listening_sockets(settings.host, settings.port, settings.workers, config.backlog)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc)
        return STARTUP_FAILURE
    if len(sockets) > 1:
        return Supervisor(config, sockets).run()
    host, port = sockets[0].getsockname()[:2]
    log.info("listening on http://%s:%d", f"[{host}]" if ":" in host else host, port)
    return serve_on(config, sockets[0])
