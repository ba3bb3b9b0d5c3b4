"""The ``visiongate`` command. Each subcommand lives in its own module with ``register``."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from visiongate import __version__

__all__ = ["main"]

_COMMANDS = ("serve", "ask", "models", "keys", "usage", "db")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visiongate", description="OpenAI-compatible vision gateway"
    )
    parser.add_argument("--version", action="version", version=f"visiongate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"visiongate.cli.{name}").register(sub)
    return parser


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (default: $VISIONGATE_CONFIG)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
