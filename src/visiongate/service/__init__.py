"""The use case: what happens to a request between the edge that parsed it and the provider
adapter that sends it (authorise, resolve, ingest images, admit, call, settle).

A layer of its own above ``core/`` (the internal model and the catalog), ``images/``,
``accounting/`` and ``providers/``, all of which it uses and none of which may import it;
every inbound surface under ``api/`` calls it with the same internal request.
"""

from visiongate.service.cache import AnswerCache, CacheTicket
from visiongate.service.chat import ChatService, Prepared, estimate_prompt_tokens

__all__ = ["AnswerCache", "CacheTicket", "ChatService", "Prepared", "estimate_prompt_tokens"]
