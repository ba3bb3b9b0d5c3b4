"""Hypothesis settings shared by the property tests: a small run in ``make test``, the
full run in ``make fuzz`` (``HYPOTHESIS_PROFILE=fuzz``). Each example is bounded, so a
run stops by itself; no database is written (the runs are seeded, repeatable)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["mutated"]

settings.register_profile(
    "default",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@st.composite
def mutated(draw: st.DrawFn, valid: bytes, max_edits: int = 8) -> bytes:
    """``valid`` with a few random edits: bytes flipped, inserted, deleted, cut short,
    or a slice repeated — how real corruption and hostile inputs look."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, max_edits))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "cut":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)
