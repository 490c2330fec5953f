"""Any LLM reply -> exactly N non-empty, distinct frame prompts that each name the Ghibli style.

Replies come in many shapes: JSON or Python lists (fenced or not), `frames = [...]`, objects with a
list inside, lists of objects, numbered / bulleted / "Frame k:" lines, bold markers, curly quotes,
chat-template tokens, refusals, truncation. Parsing uses `json` and `ast.literal_eval` only.
"""
from __future__ import annotations

import ast
import functools
import json
import re
from typing import Any

from .. import defaults
from .base import Plan, check_frame_count, clean_idea
from .offline import MOTION, OfflinePlanner

CLIP_MAX_TOKENS = 75  # 77 minus the start and end tokens
_TEMPLATE_TOKENS = re.compile(
    r"<\|[^|<>]{1,40}\|>|</?s>|\[/?INST\]|<</?SYS>>|<(?:start|end)_of_turn>(?:model|user)?|<think>.*?</think>|^\s*(?:assistant|model)\s*:?\s*\n",
    re.I | re.S,
)
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "‛": "'"})
_FENCE = re.compile(r"```[\w+-]*\s*\n?(.*?)(?:```|$)", re.S)
_LINE_LABEL = re.compile(
    r"^\s*(?:[-*•·>]+\s*|\(?\d{1,4}[.):\]]\s*|#+\s*|(?:\*\*|__)?\s*(?:frame|step|scene|shot|image|panel|prompt)\s*#?\s*\d{1,4}\s*(?:\*\*|__)?\s*[:.)\-–—]\s*(?:\*\*|__)?)",
    re.I,
)
_REFUSAL = re.compile(r"\b(i'?m sorry|i am sorry|i can(?:no|')t|i am unable|i'm unable|as an ai)\b", re.I)
_TEXT_FIELDS = ("prompt", "description", "text", "frame", "scene", "content", "caption", "value")
_LIST_FIELDS = ("frames", "prompts", "frame_prompts", "scenes", "shots", "images", "steps", "list", "items", "result", "data")


def strip_template(reply: str) -> str:
    return _TEMPLATE_TOKENS.sub("\n", reply).translate(_QUOTES)


def _parse_literal(text: str) -> Any:
    """JSON, then a Python literal; None if neither parses."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _items_from(obj: Any, depth: int = 0) -> list[str] | None:
    """Frame strings from a parsed object: a list of strings/objects, or an object holding one."""
    if depth > 4:
        return None
    if isinstance(obj, (list, tuple)):
        out = []
        for item in obj:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                text = next((item[k] for k in item if str(k).lower() in _TEXT_FIELDS and isinstance(item[k], str)), None)
                text = text or next((v for v in item.values() if isinstance(v, str) and len(v) > 8), None)
                if text:
                    out.append(text)
            elif isinstance(item, (list, tuple)):
                inner = _items_from(item, depth + 1)
                out.extend(inner or [])
        return out or None
    if isinstance(obj, dict):
        for key in sorted(obj, key=lambda k: str(k).lower() not in _LIST_FIELDS):
            found = _items_from(obj[key], depth + 1) if isinstance(obj[key], (list, tuple, dict)) else None
            if found:
                return found
        strings = [v for v in obj.values() if isinstance(v, str) and len(v) > 8]
        return strings if len(strings) >= 2 else None
    return None


def _bracketed(text: str) -> list[str]:
    """Substrings from the first '[' or '{' to each later matching closer, longest first."""
    spans = []
    for opener, closer in (("[", "]"), ("{", "}")):
        start = text.find(opener)
        if start >= 0:
            ends = [m.start() for m in re.finditer(re.escape(closer), text)]
            spans += [text[start:e + 1] for e in reversed(ends) if e > start][:3]
            # a truncated list: close it ourselves (also when it was cut inside a string)
            spans += [text[start:].rstrip(" ,\n") + closer, text[start:] + '"' + closer]
    return spans


def _truncated_strings(text: str) -> list[str]:
    """Quoted strings from a list cut off mid-way (`["a", "b", "c`)."""
    start = text.find("[")
    if start < 0:
        return []
    return [m.group(2) for m in re.finditer(r"([\"'])((?:\\.|(?!\1).){4,}?)\1", text[start:], re.S)]


def _lines(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    labelled = [ln for ln in lines if _LINE_LABEL.match(ln)]
    if len(labelled) >= 2:
        return [_LINE_LABEL.sub("", ln, count=1) for ln in labelled]
    if len(lines) >= 2:
        return [ln for ln in lines if not ln.rstrip().endswith(":")]
    return []


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+", text.strip()) if s]


def extract_items(reply: str) -> list[str]:
    """The raw frame strings a reply holds, by the most structured reading that finds any."""
    text = strip_template(reply if isinstance(reply, str) else "")
    if re.fullmatch(r"\s*(null|none|true|false|undefined|nan|[-+]?\d+(\.\d*)?)\s*", text, re.I):
        return []  # a bare null / number / boolean holds no frames
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        for source in [chunk, re.sub(r"^[^\[\{]*?=\s*", "", chunk.strip(), count=1)] + _bracketed(chunk):
            items = _items_from(_parse_literal(source))
            if items and any(_clean(i) for i in items):
                return items
    for chunk in candidates:
        items = _truncated_strings(chunk)
        if len(items) >= 2:
            return items
    body = _FENCE.sub(lambda m: m.group(1), text)
    if _REFUSAL.search(body) and not re.search(r"\n\s*(?:\d+[.)]|[-*•])\s", body):
        return []
    return _lines(body) or _sentences(body)


def _clean(item: Any) -> str:
    text = str(item).translate(_QUOTES)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = _LINE_LABEL.sub("", text, count=1)
    text = re.sub(r"\s+", " ", text).strip().strip(",;[]{}").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    elif text[:1] in "\"'" and text[-1:] not in "\"'":  # the opening quote of a cut-off string
        text = text[1:].strip()
    return text if re.search(r"[^\W\d_]{2}", text) else ""


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from transformers import CLIPTokenizer

    from ..models.configs import SD15_CONFIG_DIR

    return CLIPTokenizer.from_pretrained(str(SD15_CONFIG_DIR / "tokenizer"))


def token_count(text: str) -> int:
    return len(_tokenizer()(text, add_special_tokens=False).input_ids)


def fit_clip(text: str, limit: int = CLIP_MAX_TOKENS) -> str:
    """Trim whole words from the end of the scene part so the prompt fits CLIP, keeping the style words."""
    if token_count(text) <= limit:
        return text
    style = ", " + defaults.STYLE_TAG
    body = text.replace(defaults.STYLE_SUFFIX, "").replace(defaults.STYLE_TAG, "").strip(" ,")
    words = body.split()
    lo, hi = 0, len(words)
    while lo < hi:  # the most words that still fit
        mid = (lo + hi + 1) // 2
        if token_count(" ".join(words[:mid]).rstrip(" ,;") + style) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return (" ".join(words[:lo]).rstrip(" ,;") + style).strip(" ,")


def normalize_reply(reply: Any, idea: str, n: int, backend: str = "llm") -> Plan:
    """Exactly `n` frame prompts from a model's reply; what had to be repaired is in `Plan.warnings`."""
    idea = clean_idea(idea)
    n = check_frame_count(n)
    warnings: list[str] = []
    items = [c for c in (_clean(i) for i in extract_items(reply if isinstance(reply, str) else "")) if c]
    if not items:
        warnings.append("the reply held no frame prompts; used the offline plan")
    if len(items) > n:
        warnings.append(f"the reply had {len(items)} frames; kept {n} evenly spaced")
        items = [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]
    offline = OfflinePlanner().plan(idea, n).frames
    if 0 < len(items) < n:
        warnings.append(f"the reply had {len(items)} of {n} frames; completed from the offline plan")
    frames = items + offline[len(items):]
    restyled = 0
    for i, frame in enumerate(frames):
        if "ghibli" not in frame.lower():
            frames[i] = f"{frame}, {defaults.STYLE_SUFFIX}"
            restyled += 1
    if restyled and items:
        warnings.append(f"added the Ghibli style to {restyled} frame(s)")
    trimmed = 0
    seen: set[str] = set()
    duplicates = 0
    for i, frame in enumerate(frames):
        fitted = fit_clip(frame)
        trimmed += fitted != frame
        k = 0
        while fitted.lower() in seen:  # make a repeated frame distinct with a motion detail
            detail = MOTION[(i + k) % len(MOTION)] if k < len(MOTION) else f"moment {i + 1}"
            fitted = fit_clip(f"{fitted.replace(', ' + defaults.STYLE_TAG, '')}, {detail}, {defaults.STYLE_TAG}")
            k += 1
        duplicates += k > 0
        seen.add(fitted.lower())
        frames[i] = fitted
    if duplicates:
        warnings.append(f"made {duplicates} repeated frame(s) distinct")
    if trimmed:
        warnings.append(f"trimmed {trimmed} frame(s) to CLIP's {CLIP_MAX_TOKENS + 2}-token limit")
    return Plan(idea=idea, frames=frames, backend=backend, warnings=warnings)
