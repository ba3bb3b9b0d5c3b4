"""``visiongate models pull``: fetch a local model's weights ahead of time.

``visiongate models pull local/smolvlm`` downloads the files transformers needs (config,
tokenizer, processor, safetensors; not the ONNX or GGUF copies many repos also hold) into
the Hugging Face cache, so the first request does not wait for a download and the server
can then run with ``HF_HUB_OFFLINE=1``. Models whose source is a directory are checked,
not fetched.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    from visiongate.cli import add_config_arg

    p = sub.add_parser(
        "pull",
        help="download local models' weights into the Hugging Face cache",
        description="Download the weights of local transformers models ahead of time.",
    )
    add_config_arg(p)
    p.add_argument(
        "model_ids",
        nargs="*",
        metavar="MODEL",
        help="local model ids (default: local/smolvlm)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from visiongate.local import weights
    from visiongate.providers.local import engine_name
    from visiongate.runtime import build_catalog
    from visiongate.settings import load_settings

    settings = load_settings(getattr(args, "config", None))
    catalog = build_catalog(settings, dict(os.environ))
    failures = 0
    for model_id in args.model_ids or ["local/smolvlm"]:
        entry = catalog.resolve(model_id)
        if entry is None or entry.provider != "local" or engine_name(entry) != "transformers":
            print(f"{model_id}: not a local transformers model in the catalog", file=sys.stderr)
            failures += 1
            continue
        source, revision = entry.upstream, entry.options.get("revision")
        if weights.is_directory_source(source):
            ok = weights.weights_present(source)
            state = "present" if ok else "MISSING (no config.json and weights)"
            print(f"{entry.id}: directory {source}: {state}")
            failures += 0 if ok else 1
            continue
        if not weights.hub_allowed():
            print(
                f"{entry.id}: cannot download {source}: huggingface_hub is not installed or "
                "HF_HUB_OFFLINE is set",
                file=sys.stderr,
            )
            failures += 1
            continue
        print(f"{entry.id}: fetching {source} into the Hugging Face cache", flush=True)
        try:
            path = weights.download(source, revision)
        except Exception as exc:  # network, auth, unknown repo: reported, next model
            print(f"{entry.id}: download failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failures += 1
            continue
        print(f"{entry.id}: ready at {path}")
    return 1 if failures else 0
