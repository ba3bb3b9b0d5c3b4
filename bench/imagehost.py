"""The benchmark's image server for the image-URL scenario.

    python bench/imagehost.py --port 18081 --dir IMAGES

Serves ``GET /img/<file>`` from memory (the query string is ignored, so a benchmark can make
every URL unique to defeat a gateway's URL cache) and counts the hits: ``GET /stats``.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

import orjson
from httpcore import Reply, Request, serve

_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18081)
    ap.add_argument("--dir", required=True, help="folder of images to serve")
    args = ap.parse_args()
    files: dict[str, tuple[str, bytes]] = {}
    for name in os.listdir(args.dir):
        kind = _TYPES.get(os.path.splitext(name)[1].lower())
        if kind:
            with open(os.path.join(args.dir, name), "rb") as fh:
                files[f"/img/{name}"] = (kind, fh.read())
    stats: Counter[str] = Counter()

    def handle(req: Request) -> Reply:
        path = req.path
        if req.method == "GET" and path in files:
            stats["hits"] += 1
            kind, data = files[path]
            return Reply(content_type=kind, body=data)
        if path == "/stats":
            return Reply(body=orjson.dumps(stats))
        if path == "/health":
            return Reply(content_type="text/plain", body=b"ok")
        return Reply(404, body=b'{"error":"no such image"}')

    def connected() -> None:
        stats["connections"] += 1

    serve(args.host, args.port, handle, connected)


if __name__ == "__main__":
    main()
