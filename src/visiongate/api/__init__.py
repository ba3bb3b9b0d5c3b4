"""The HTTP edge: the inbound surfaces (each parses its wire format into the internal
model and renders answers and errors in its own shape) and the operations routes, all raw
ASGI. Nothing below this package imports it.

FastAPI is not imported here: the framework app (``framework.py``) is built on first use
(``lazy.py``).
"""

from visiongate.api.chat import CHAT_PATHS, ChatEndpoint
from visiongate.api.operations import OPERATIONS_PATHS, Operations

__all__ = ["CHAT_PATHS", "OPERATIONS_PATHS", "ChatEndpoint", "Operations"]
