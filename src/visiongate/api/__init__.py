"""The HTTP edge: the inbound surfaces (a folder each: ``chat/``, ``responses/``,
``messages/``, parsing their wire format into the internal model and rendering answers
and errors in their own shape), the endpoint they share, and the operations routes, all
raw ASGI. Nothing below this package imports it.

FastAPI is not imported here: the framework app (``framework.py``) is built on first use
(``lazy.py``).
"""

from visiongate.api.endpoint import Endpoint
from visiongate.api.operations import OPERATIONS_PATHS, Operations
from visiongate.api.surface import StreamRenderer, Surface
from visiongate.api.surfaces import build_endpoints

__all__ = [
    "OPERATIONS_PATHS",
    "Endpoint",
    "Operations",
    "StreamRenderer",
    "Surface",
    "build_endpoints",
]
