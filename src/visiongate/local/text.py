"""Token ids to text as they are generated: incremental decoding and stop strings.

Decoding each new token on its own is wrong for most tokenizers (byte-level BPE splits a
character over several tokens; SentencePiece drops a word's leading space when a token is
decoded alone), and decoding the whole answer at every step is quadratic. So, as servers
like vLLM and TGI do, a short window of earlier tokens is decoded with and without the new
ones and only the difference is taken; text that ends in an incomplete character (U+FFFD)
waits for the next token.

Stop strings (OpenAI ``stop``) are matched on the text, not the tokens, because a stop
string rarely lines up with token boundaries. Text that might be the start of a stop
string is held back until it is clear it is not, so a client never sees part of one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["TextAssembler"]

_INCOMPLETE = "\ufffd"


class TextAssembler:
    """Turns the growing list of generated ids into text pieces passed to ``emit``.

    ``decode`` maps ids to text (special tokens skipped). Not thread-safe: one generation
    feeds it from one thread.
    """

    def __init__(
        self,
        decode: Callable[[Sequence[int]], str],
        stop: Sequence[str] = (),
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self._decode = decode
        self._stop = tuple(s for s in stop if s)
        self._longest_stop = max((len(s) for s in self._stop), default=0)
        self._emit = emit
        self._ids: list[int] = []
        self._prefix = 0  # start of the decoding window
        self._read = 0  # ids before this are in ``text``
        self.text = ""
        self._emitted = 0
        self.stopped = False
        self.stop_tokens: int | None = None

    @property
    def tokens(self) -> int:
        """How many ids have been fed."""
        return len(self._ids)

    def feed(self, new_ids: Sequence[int]) -> bool:
        """Add newly generated ids; return True once a stop string has appeared (the text
        is then cut just before it and nothing more is accepted)."""
        if self.stopped:
            return True
        self._ids.extend(int(i) for i in new_ids)
        self._advance(final=False)
        return self.stopped

    def finish(self) -> str:
        """Decode what was held back (an incomplete character, a possible stop string's
        beginning), emit it, and return the whole text."""
        if not self.stopped:
            self._advance(final=True)
        self._flush(len(self.text))
        return self.text

    def _advance(self, final: bool) -> None:
        if self._read == len(self._ids):
            return
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if not final and (len(after) <= len(before) or after.endswith(_INCOMPLETE)):
            return
        piece = after[len(before) :]
        self._prefix, self._read = self._read, len(self._ids)
        searched = len(self.text)
        self.text += piece
        if self._stop and self._cut_at_stop(searched):
            self.stopped = True
            self.stop_tokens = len(self._ids)
            self._flush(len(self.text))
            return
        self._flush(len(self.text) - self._held_back())

    def _cut_at_stop(self, searched: int) -> bool:
        start = max(0, searched - self._longest_stop + 1)
        hits = [i for i in (self.text.find(s, start) for s in self._stop) if i >= 0]
        if not hits:
            return False
        self.text = self.text[: min(hits)]
        return True

    def _held_back(self) -> int:
        """Length of the longest tail of the text that a stop string starts with."""
        for size in range(min(self._longest_stop - 1, len(self.text)), 0, -1):
            tail = self.text[-size:]
            if any(s.startswith(tail) for s in self._stop):
                return size
        return 0

    def _flush(self, upto: int) -> None:
        upto = max(upto, self._emitted)
        if upto > self._emitted:
            piece = self.text[self._emitted : upto]
            self._emitted = upto
            if self._emit is not None:
                self._emit(piece)
