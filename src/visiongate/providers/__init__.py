"""Provider adapters: one module per wire API, each translating the internal model
(``core/messages.py``) to its upstream and back. Adapters know nothing of each other, of
HTTP routing or of the surface a request came in by.

Only the interface and the registry are imported here; each adapter is imported when a
configured provider needs it (``registry.py``).
"""

from visiongate.providers.base import HttpProvider, Provider
from visiongate.providers.registry import build_providers, provider_class

__all__ = ["HttpProvider", "Provider", "build_providers", "provider_class"]
