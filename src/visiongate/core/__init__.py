"""The bottom layer: the internal message model, the catalog and what a request did.

Nothing here knows HTTP, a provider's wire format or the use case; every other package
may import it.
"""

from visiongate.core.catalog import Catalog, ImageLimits, ModelEntry, ProviderEntry
from visiongate.core.messages import (
    ChatRequest,
    ChatResponse,
    Choice,
    DocumentPart,
    ImagePart,
    Message,
    StreamDelta,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from visiongate.core.outcome import Outcome

__all__ = [
    "Catalog",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "DocumentPart",
    "ImageLimits",
    "ImagePart",
    "Message",
    "ModelEntry",
    "Outcome",
    "ProviderEntry",
    "StreamDelta",
    "TextPart",
    "ThinkingPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
]
