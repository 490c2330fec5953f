"""The instructions every LLM backend receives, and the JSON schema of the reply (for servers with structured output)."""
from __future__ import annotations

from typing import Any

from .. import defaults
from ..camera.moves import MOVES, STRENGTH_RANGE

SYSTEM_PROMPT = """You plan the beats of a short looping animation painted in the {style}, and direct its camera.
Reply with only JSON and no other text: an object {{"frames": [...], "music": ...}} whose "frames" is a list of \
exactly {n} objects {{"prompt": ..., "camera": ...}}.
"prompt" is the image prompt of one frame for Stable Diffusion 1.5: at most 50 words, concrete and visual \
(subject, setting, light, what moves), ending with "{style}". Do not describe camera moves in it.
"camera" is how the camera moves during that beat, one of: {moves}; optionally with a strength from \
{lo:g} to {hi:g} after a colon (1 is the full move), e.g. "push-in:0.5".
Consecutive frames change only a little (light shifts, something moves) so they animate smoothly. The animation \
loops: the last frame leads back into the first, and the camera comes home too (a move and its return, such as \
push-in then pull-back, or sway, or static).
"music" is a prompt for a text-to-music model, at most 30 words: the instruments, mood and tempo of music that fits \
the idea, as an orchestral film score in the Studio Ghibli manner, without vocals."""

USER_PROMPT = "Idea: {idea}\nNumber of frames: {n}"


def build_messages(idea: str, n: int) -> list[dict[str, str]]:
    """Chat messages asking for `n` beats (prompt and camera move) for `idea`."""
    lo, hi = STRENGTH_RANGE
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(style=defaults.STYLE_TAG, n=n, moves=", ".join(MOVES), lo=lo, hi=hi)},
        {"role": "user", "content": USER_PROMPT.format(idea=idea, n=n)},
    ]


def response_format(n: int) -> dict[str, Any]:
    """OpenAI-style `response_format` (also what Hugging Face's chat completion takes) for exactly `n` beats.

    Structured output needs an object at the top, so the list sits under `frames`; the camera is a string matching
    the vocabulary, with an optional strength.
    """
    camera = {"type": "string", "pattern": rf"^({'|'.join(MOVES)})(:[0-9]+(\.[0-9]+)?)?$",
              "description": "a move from the vocabulary, optionally NAME:STRENGTH"}
    beat = {"type": "object", "properties": {"prompt": {"type": "string"}, "camera": camera},
            "required": ["prompt", "camera"], "additionalProperties": False}
    schema = {"type": "object", "properties": {"frames": {"type": "array", "items": beat, "minItems": n, "maxItems": n},
                                               "music": {"type": "string"}},
              "required": ["frames", "music"], "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "animation_plan", "schema": schema, "strict": True}}


def max_reply_tokens(n: int) -> int:
    """Room for `n` beats of about 60 prompt tokens, a camera move and JSON punctuation each, and the music prompt,
    bounded."""
    return min(80 * n + 112, 8192)
