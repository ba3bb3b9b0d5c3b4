"""A Hugging Face hub stand-in on 127.0.0.1 serving one repo from a local folder.

Answers the four requests ``huggingface_hub.snapshot_download`` makes (repo info, tree
listing, then HEAD and GET of each file under ``/resolve/``) in the hub's JSON and header
shapes, and records which files were fetched, so the download path of the local engine and
of ``visiongate models pull`` is exercised without any network.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

from aiohttp import web

__all__ = ["SHA", "fake_hub_app", "repo_files"]

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def fake_hub_app(
    repo_id: str,
    files: dict[str, bytes],
    fetched: list[str],
    gate: threading.Event | None = None,
) -> web.Application:
    """``files`` maps repo paths to contents; ``fetched`` collects the paths GET serves.
    With ``gate``, the weights (``*.safetensors``) are sent only once it is set, so a test
    can look at a download in progress."""

    def etag(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    async def revision(request: web.Request) -> web.Response:
        if request.match_info["repo"] != repo_id:
            return web.json_response({"error": "Repository not found"}, status=404)
        return web.json_response(
            {
                "id": repo_id,
                "modelId": repo_id,
                "sha": SHA,
                "private": False,
                "siblings": [{"rfilename": path} for path in files],
            }
        )

    async def tree(request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "type": "file",
                    "path": path,
                    "size": len(data),
                    "oid": hashlib.sha1(data).hexdigest(),
                }
                for path, data in files.items()
            ]
        )

    async def resolve(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        if request.match_info["repo"] != repo_id or path not in files:
            return web.Response(status=404, headers={"X-Error-Code": "EntryNotFound"})
        data = files[path]
        headers = {
            "X-Repo-Commit": SHA,
            "ETag": f'"{etag(data)}"',
            "Content-Length": str(len(data)),
        }
        if request.method == "HEAD":
            return web.Response(headers=headers)
        if gate is not None and path.endswith(".safetensors"):
            await asyncio.to_thread(gate.wait, 60)
        fetched.append(path)
        return web.Response(body=data, headers={k: v for k, v in headers.items() if k[0] != "C"})

    app = web.Application()
    app.router.add_get("/api/models/{repo:.+}/revision/{rev}", revision)
    app.router.add_get("/api/models/{repo:.+}/tree/{rev}", tree)
    app.router.add_route("*", "/{repo:[^/]+/[^/]+}/resolve/{rev}/{path:.+}", resolve)
    return app


def repo_files(model_dir: Path) -> dict[str, bytes]:
    """The saved model's files, plus an ONNX copy a real repo would also hold."""
    files = {p.name: p.read_bytes() for p in sorted(model_dir.iterdir()) if p.is_file()}
    files["onnx/model.onnx"] = b"\0" * 1024
    return files
