"""One request on a loaded model: its inputs (prepared), then its generation (run).

Both steps block and run in worker threads. :func:`prepare_job` does the request-dependent
CPU work and every check that can fail because of the request (a 400 belongs before the
first byte of a stream): decoding images, the chat template, the processor, the context
window. :func:`run_job` generates, handing text to ``emit`` as it is produced, and stops
early when ``cancel`` is set.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from visiongate.core.catalog import ModelEntry
from visiongate.core.messages import ChatRequest, FinishReason
from visiongate.errors import InvalidRequest
from visiongate.local.inputs import decode_image, to_conversation
from visiongate.local.loader import LoadedModel
from visiongate.local.text import TextAssembler

__all__ = ["Job", "JobResult", "prepare_job", "run_job"]


@dataclass(slots=True)
class Job:
    inputs: Any  # the processor's BatchFeature, on the model's device
    prompt_tokens: int
    image_tokens: int
    max_new_tokens: int
    stop: list[str]
    sampling: Any  # generation.Sampling
    presence_penalty: float
    frequency_penalty: float


@dataclass(slots=True)
class JobResult:
    text: str
    completion_tokens: int
    finish_reason: FinishReason
    cancelled: bool


def prepare_job(loaded: LoadedModel, entry: ModelEntry, request: ChatRequest) -> Job:
    """Tokenize the conversation with its images. Raises InvalidRequest / ImageError."""
    from jinja2 import TemplateError

    conversation, parts = to_conversation(request.messages, entry.id, loaded.placeholder)
    images = [decode_image(part) for part in parts]
    processor = loaded.processor
    try:
        prompt = processor.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )
    except TemplateError as exc:
        raise InvalidRequest(
            f"{entry.id}'s chat template refused this conversation: {exc}", param="messages"
        ) from exc
    bos = getattr(processor.tokenizer, "bos_token", None)
    try:
        inputs = processor(
            text=prompt,
            images=images or None,
            add_special_tokens=not (bos and prompt.startswith(bos)),
            return_tensors="pt",
        )
    except ValueError as exc:
        raise InvalidRequest(
            f"{entry.id} could not take these inputs: {exc}", param="messages"
        ) from exc
    input_ids = inputs["input_ids"]
    prompt_tokens = int(input_ids.shape[1])
    image_tokens = 0
    if loaded.image_token_id is not None:
        image_tokens = int((input_ids == loaded.image_token_id).sum())
    return Job(
        inputs=inputs.to(loaded.model.device, dtype=loaded.model.dtype),
        prompt_tokens=prompt_tokens,
        image_tokens=image_tokens,
        max_new_tokens=_max_new_tokens(loaded, entry, request, prompt_tokens),
        stop=list(request.stop or []),
        sampling=_sampling(loaded, request),
        presence_penalty=request.presence_penalty or 0.0,
        frequency_penalty=request.frequency_penalty or 0.0,
    )


def _max_new_tokens(
    loaded: LoadedModel, entry: ModelEntry, request: ChatRequest, prompt_tokens: int
) -> int:
    limit = entry.max_output_tokens
    asked = request.max_tokens
    if asked is not None and not 1 <= asked <= limit:
        raise InvalidRequest(
            f"max_tokens must be between 1 and {limit} for {entry.id}; got {asked}.",
            code="invalid_value",
            param="max_tokens",
        )
    budget = asked or limit
    context = loaded.context_window
    if context:
        room = context - prompt_tokens
        if room < 1 or (asked is not None and asked > room):
            raise InvalidRequest(
                f"{entry.id} has a context window of {context} tokens; the prompt takes "
                f"{prompt_tokens} (images included)"
                + (f" and max_tokens asks for {asked} more" if asked is not None else "")
                + ". Send fewer or smaller images, a shorter conversation, or a lower max_tokens.",
                code="context_length_exceeded",
                param="messages" if room < 1 else "max_tokens",
            )
        budget = min(budget, room)
    return budget


def _sampling(loaded: LoadedModel, request: ChatRequest) -> Any:
    """OpenAI's sampling fields; when the client names neither temperature nor top_p, the
    model's own generation defaults (greedy for SmolVLM) apply."""
    from visiongate.local.generation import Sampling

    temperature, top_p = request.temperature, request.top_p
    if temperature == 0:
        return Sampling(greedy=True)
    if temperature is None and top_p is None:
        d = loaded.defaults
        if not d.get("do_sample"):
            return Sampling(greedy=True)
        return Sampling(
            greedy=False,
            temperature=d.get("temperature") or 1.0,
            top_k=d.get("top_k"),
            top_p=d.get("top_p"),
            seed=request.seed,
        )
    return Sampling(
        greedy=False,
        temperature=temperature if temperature is not None else 1.0,
        top_p=top_p,
        seed=request.seed,
    )


def run_job(
    loaded: LoadedModel, job: Job, cancel: threading.Event, emit: Callable[[str], None]
) -> JobResult:
    """Generate; return the whole text and why it ended. Blocking."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    from visiongate.local.generation import OpenAIPenalties, SeededSampler, TextStopper

    tokenizer = loaded.processor.tokenizer
    assembler = TextAssembler(
        lambda ids: tokenizer.decode(ids, skip_special_tokens=True), job.stop, emit
    )
    processors = LogitsProcessorList()
    if job.presence_penalty or job.frequency_penalty:
        processors.append(
            OpenAIPenalties(job.prompt_tokens, job.presence_penalty, job.frequency_penalty)
        )
    if not job.sampling.greedy:
        processors.append(SeededSampler(job.sampling))
    config = copy.deepcopy(loaded.model.generation_config)
    config.update(
        max_new_tokens=job.max_new_tokens,
        do_sample=False,
        num_beams=1,
        num_return_sequences=1,
        temperature=None,
        top_k=None,
        top_p=None,
        pad_token_id=loaded.defaults.get("pad_token_id"),
    )
    with torch.inference_mode():
        output = loaded.model.generate(
            **job.inputs,
            generation_config=config,
            logits_processor=processors,
            stopping_criteria=StoppingCriteriaList(
                [TextStopper(assembler, job.prompt_tokens, cancel)]
            ),
        )
    ids = output[0, job.prompt_tokens :].tolist()
    if not cancel.is_set():
        assembler.feed(ids[assembler.tokens :])  # tokens the stopper was not shown
    text = assembler.finish()
    ended = assembler.stopped or bool(ids and ids[-1] in loaded.eos_ids)
    finish: FinishReason = "length" if not ended and len(ids) >= job.max_new_tokens else "stop"
    return JobResult(text, len(ids), finish, cancel.is_set())
