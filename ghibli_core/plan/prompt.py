"""The instructions every LLM backend receives."""
from __future__ import annotations

from .. import defaults

SYSTEM_PROMPT = """You plan the frames of a short looping animation painted in the {style}.
Reply with only a JSON list of exactly {n} strings and no other text.
Each string is the image prompt of one frame for Stable Diffusion 1.5: at most 50 words, concrete and visual \
(subject, setting, light, what moves), and it ends with "{style}".
Consecutive frames change only a little (light shifts, something moves, the camera drifts) so they animate \
smoothly, and the last frame leads back to the first so the animation loops."""

USER_PROMPT = "Idea: {idea}\nNumber of frames: {n}"


def build_messages(idea: str, n: int) -> list[dict[str, str]]:
    """Chat messages asking for `n` frame prompts for `idea`."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(style=defaults.STYLE_TAG, n=n)},
        {"role": "user", "content": USER_PROMPT.format(idea=idea, n=n)},
    ]


def max_reply_tokens(n: int) -> int:
    """Room for `n` prompts of about 60 tokens each plus JSON punctuation, bounded."""
    return min(64 * n + 64, 8192)
