"""A tiny, randomly initialised vision-language model of a real architecture, built on the spot.

Tests must never download weights, yet the local engine should be proven on the code path
users hit: ``AutoProcessor`` + ``AutoModelForImageTextToText`` loading a directory. So this
builds SmolVLM's architecture (Idefics3: a SigLIP-style vision encoder, a pixel-shuffle
connector and a Llama text model) with a few small layers, a byte-level BPE tokenizer trained
here on a paragraph of English with the special tokens Idefics3 needs, an image processor
with small tiles and a chat template, and saves it all as a Hugging Face model directory.

The weights are random, so the answers are gibberish, but deterministic for a seed: tests
compare the engine against ``model.generate`` run directly on the same inputs.

One deliberate change from a trained model: the output row of the end-of-utterance token is
zeroed, so greedy decoding (where some other logit is always positive) never ends on its
own and ``max_tokens``, stop strings and cancellation are exercised deterministically.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "END_TOKEN", "IMAGE_SEQ_LEN", "build_tiny_vlm"]

END_TOKEN = "<end_of_utterance>"
IMAGE_SEQ_LEN = 4  # (tile 32 px / patch 8 px)^2 / scale_factor^2
_TILE = 32
_PATCH = 8
_SCALE = 2

# SmolVLM's prompt layout: "User:<image> question<end_of_utterance>\nAssistant:".
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- message['role'] | capitalize -}}:"
    "{%- if message['content'] is string -%}"
    "{{- ' ' + message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<image>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- ' ' + part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<end_of_utterance>\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}"
)

_CORPUS = """
The quick brown fox jumps over the lazy dog near the river bank.
A red stop sign stands at the corner of the street, next to a blue mailbox.
What colour is the car in the picture? The car is green and parked by a tree.
Describe the image: two cats sleep on a sofa while the sun shines through the window.
Count the apples on the table. There are three apples and one orange.
The chart shows sales rising from January to June, with a dip in April.
Read the text on the sign: OPEN DAILY, PARKING 42, COFFEE AND CROISSANT.
User asks a question about the photo and the assistant answers briefly and clearly.
Numbers 0 1 2 3 4 5 6 7 8 9 10 100 1000, punctuation . , ; : ! ? ( ) " ' - and more.
"""


def _special_tokens() -> list[str]:
    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    return [
        "<|im_start|>",
        END_TOKEN,
        "<|pad|>",
        "<fake_token_around_image>",
        "<image>",
        "<global-img>",
        *rows,
    ]


def _train_tokenizer(vocab_size: int):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = _special_tokens()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS.strip().splitlines() * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token=END_TOKEN,
        pad_token="<|pad|>",
        additional_special_tokens=[t for t in specials if t not in ("<|im_start|>", "<|pad|>")],
        model_max_length=4096,
    )


def build_tiny_vlm(
    path: Path, *, seed: int = 0, image_splitting: bool = True, vocab_size: int = 400
) -> Path:
    """Save a tiny random Idefics3 model + processor under ``path`` and return ``path``.

    With ``image_splitting`` an image is cut into up to 2x2 tiles of 32 px plus a global
    view (as SmolVLM does at larger sizes), so the prompt grows with the image's shape.
    """
    import torch
    from transformers import (
        GenerationConfig,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(vocab_size)
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": 2 * _TILE},
        max_image_size={"longest_edge": _TILE},
        do_image_splitting=image_splitting,
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )
    end_id = tokenizer.convert_tokens_to_ids(END_TOKEN)
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": end_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = Idefics3Config(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5,
            **ids,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": _TILE,
            "patch_size": _PATCH,
        },
        scale_factor=_SCALE,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight[end_id].zero_()
    model.generation_config = GenerationConfig(**ids)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
