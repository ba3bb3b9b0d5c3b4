"""schemathesis hooks for ``tests/e2e/test_schema_fuzz_e2e.py`` (``SCHEMATHESIS_HOOKS``).

A generated ``model`` is a random string, so every schema-valid body would stop at the
404 for an unknown model and nothing past the model lookup would be fuzzed. Three in four
bodies are given a model the fuzzed gateway serves instead, picked from the generated
value so that a seed still replays the same run."""

from __future__ import annotations

from typing import Any

import schemathesis

SERVED = ("gpt-4o", "gpt-4o-mini", "gpt-4-turbo")


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        pick = len(body["model"]) % 4
        if pick:
            body["model"] = SERVED[pick - 1]
    return body
