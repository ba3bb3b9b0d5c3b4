"""Incremental detokenizing and stop strings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from visiongate.local.text import TextAssembler

# A byte-level vocabulary: each id is some bytes, as in GPT-2 style BPE, so one character
# can be split across tokens and a lone token can be an incomplete UTF-8 sequence.
_WORDS = ["Hel", "lo", " wor", "ld", "!", " STOP", " and", " more", "\n"]
_VOCAB: list[bytes] = [w.encode() for w in _WORDS] + [bytes([b]) for b in range(256)]


def _byte_id(b: int) -> int:
    return len(_WORDS) + b


def decode(ids: Sequence[int]) -> str:
    return b"".join(_VOCAB[i] for i in ids).decode("utf-8", errors="replace")


def encode_text(text: str) -> list[int]:
    return [_byte_id(b) for b in text.encode()]


def run(ids: list[int], stop: Sequence[str] = (), step: int = 1) -> tuple[list[str], TextAssembler]:
    pieces: list[str] = []
    assembler = TextAssembler(decode, stop, pieces.append)
    for i in range(0, len(ids), step):
        if assembler.feed(ids[i : i + step]):
            break
    assembler.finish()
    return pieces, assembler


def test_pieces_join_to_the_full_decode_and_never_split_a_character() -> None:
    ids = [0, 1, 2, 3, 4, *encode_text(" héllo 日本語 🙂")]
    pieces, assembler = run(ids)
    assert "".join(pieces) == decode(ids) == assembler.text
    assert all("\ufffd" not in p for p in pieces)
    assert len(pieces) > 5  # streamed, not all at the end


def test_stop_string_cuts_text_and_reports_the_token_count() -> None:
    ids = [0, 1, 2, 3, 5, 6, 7]  # "Hello world STOP and more"
    pieces, assembler = run(ids, stop=["STOP"])
    assert assembler.text == "Hello world "
    assert "".join(pieces) == "Hello world "
    assert assembler.stopped and assembler.stop_tokens == 5


def test_text_that_may_start_a_stop_string_is_held_back_until_it_cannot() -> None:
    pieces: list[str] = []
    assembler = TextAssembler(decode, ["ld!x"], pieces.append)
    assembler.feed([0, 1, 2])  # "Hello wor"
    assembler.feed([3])  # "ld" might begin "ld!x"
    assert "".join(pieces) == "Hello wor"
    assembler.feed([4])  # "ld!" still might
    assert "".join(pieces) == "Hello wor"
    assembler.feed([8])  # "ld!\n" cannot
    assert "".join(pieces) == "Hello world!\n"
    assert not assembler.stopped


def test_stop_string_spanning_tokens_and_several_candidates() -> None:
    ids = [0, 1, 2, 3, 4]  # "Hello world!"
    _, assembler = run(ids, stop=["xyz", "o wo", "world"])
    assert assembler.text == "Hell"


def test_incomplete_character_at_the_end_is_flushed_as_replacement() -> None:
    ids = [0, *encode_text("é")[:1]]
    pieces, assembler = run(ids)
    assert assembler.text == "Hel\ufffd" == "".join(pieces)


@pytest.mark.parametrize("step", [1, 3, 100])
def test_feeding_several_ids_at_once(step: int) -> None:
    ids = [0, 1, 2, 3, *encode_text(" ünïcode "), 5, 6]
    pieces, assembler = run(ids, stop=[" STOP"], step=step)
    assert assembler.text == "Hello world ünïcode "
    assert "".join(pieces) == assembler.text


def test_no_stop_strings_and_empty_input() -> None:
    pieces, assembler = run([])
    assert pieces == [] and assembler.text == "" and not assembler.stopped
