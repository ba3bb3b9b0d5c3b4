"""The browser playground: static files shipped in the package and the handler that serves them.

The page (``static/``) talks only to the public API with the key the person types in, so
serving it needs no access to anything but its own files (docs/playground.md).
"""

from visiongate.playground.handler import Playground, is_playground_path

__all__ = ["Playground", "is_playground_path"]
