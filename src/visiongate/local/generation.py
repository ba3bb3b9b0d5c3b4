"""What ``model.generate`` is given for one request: sampling, penalties and stopping.

Imported only inside the engine's worker threads (it needs torch and transformers).

Sampling is done here rather than by ``generate(do_sample=True)`` because transformers
draws from torch's process-wide random generator: two requests running at once would
disturb each other's ``seed``. :class:`SeededSampler` draws from a generator of its own
and leaves a single candidate, which ``generate``'s greedy step then picks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import cast

import torch
from transformers import (
    LogitsProcessor,
    StoppingCriteria,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from visiongate.local.text import TextAssembler

__all__ = ["OpenAIPenalties", "Sampling", "SeededSampler", "TextStopper"]


@dataclass(frozen=True, slots=True)
class Sampling:
    """How the next token is chosen: ``greedy``, or sampled after temperature, top-k and
    top-p with a per-request ``seed`` (None: a fresh random one)."""

    greedy: bool
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None


class SeededSampler(LogitsProcessor):
    """Samples the next token from the processed scores with its own torch.Generator and
    returns scores where only that token remains possible."""

    def __init__(self, sampling: Sampling) -> None:
        self._warpers: list[LogitsProcessor] = []
        if sampling.temperature != 1.0:
            self._warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k:
            self._warpers.append(TopKLogitsWarper(top_k=sampling.top_k))
        if sampling.top_p is not None and sampling.top_p < 1.0:
            self._warpers.append(TopPLogitsWarper(top_p=sampling.top_p))
        self._seed = sampling.seed
        self._generator: torch.Generator | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._generator is None:
            self._generator = torch.Generator(device=scores.device)
            if self._seed is None:
                self._generator.seed()
            else:
                self._generator.manual_seed(self._seed)
        for warper in self._warpers:
            scores = warper(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1)
        chosen = torch.multinomial(probs, num_samples=1, generator=self._generator)
        only = torch.full_like(scores, float("-inf"))
        return cast(torch.FloatTensor, only.scatter_(1, chosen, 0.0))


class OpenAIPenalties(LogitsProcessor):
    """OpenAI's ``presence_penalty`` and ``frequency_penalty``: each token's logit is
    lowered by ``frequency * count + presence * (count > 0)``, counting the tokens
    generated so far (not the prompt)."""

    def __init__(self, prompt_len: int, presence: float, frequency: float) -> None:
        self._prompt_len = prompt_len
        self._presence = presence
        self._frequency = frequency

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self._prompt_len :]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores)
        counts.scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        penalty = self._frequency * counts + self._presence * (counts > 0).to(scores.dtype)
        return cast(torch.FloatTensor, scores - penalty)


class TextStopper(StoppingCriteria):
    """Feeds each new token to the request's :class:`TextAssembler` (which streams the
    text) and stops generation when a stop string appeared or the request was cancelled
    (the client went away, or the server is closing)."""

    def __init__(self, assembler: TextAssembler, prompt_len: int, cancel: threading.Event) -> None:
        self._assembler = assembler
        self._prompt_len = prompt_len
        self._cancel = cancel

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs: object
    ) -> torch.BoolTensor:
        if self._cancel.is_set():
            stop = True
        else:
            new = input_ids[0, self._prompt_len + self._assembler.tokens :].tolist()
            stop = self._assembler.feed(new)
        done = torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
        return cast(torch.BoolTensor, done)
