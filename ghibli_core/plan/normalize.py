"""Any LLM reply -> exactly N non-empty, distinct frame prompts that each name the Ghibli style.

Replies come in many shapes: JSON or Python lists (fenced or not), `frames = [...]`, objects with a
list inside, lists of objects, YAML lists, Markdown tables, numbered / bulleted / "Frame k:" lines (or "Scene k"
headings over their own paragraphs), a camera named inline ("(camera: push-in)"), bold markers, curly quotes,
chat-template tokens, refusals, truncation. Parsing uses `json`, `ast.literal_eval` and `yaml.safe_load` only (data,
never code).
"""
from __future__ import annotations

import ast
import functools
import json
import re
from typing import Any

from .. import defaults
from .base import Plan, check_frame_count, clean_idea
from .camera import read_move, split_camera_suffix
from .music import music_from_reply
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
_TEXT_FIELDS = ("prompt", "image_prompt", "description", "text", "frame", "scene", "content", "caption", "value", "visual",
                "image", "desc")
#: Keys a frame object may hold its camera under, the likeliest first ("motion" and "shot" may also be prose).
_CAMERA_FIELDS = ("camera", "camera_move", "cameramove", "camera_motion", "camera_movement", "move", "movement", "motion",
                  "shot", "cam")
#: Keys of a camera list parallel to the frames (`plan --json`'s `camera`).
_CAMERA_LISTS = ("camera", "cameras", "camera_moves", "moves", "movements")
_LIST_FIELDS = ("frames", "beats", "plan", "prompts", "frame_prompts", "scenes", "shots", "keyframes", "images", "steps", "list",
                "items", "result", "data")


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
        pass
    return _yaml_list(text)


def _yaml_list(text: str) -> Any:
    """A YAML list of frames (`- prompt: ...` / `  camera: ...`), or a mapping holding one; None otherwise (plain
    prose and `Frame 1: ...` lines are YAML too, and are read line by line instead). `safe_load` builds data only."""
    import yaml

    try:
        obj = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    if isinstance(obj, list) or (isinstance(obj, dict) and any(isinstance(v, list) for v in obj.values())):
        return obj
    return None


Beat = tuple[str, Any]  # (raw prompt text, raw camera value or None when the reply gave none)


def _beat_from_dict(item: dict) -> Beat | None:
    """A frame object: its prompt under a text key (or its longest text), its move under a camera key."""
    lowered = {str(k).lower().replace("-", "_").replace(" ", "_"): k for k in item}
    camera_key = next((lowered[k] for k in _CAMERA_FIELDS if k in lowered), None)
    camera = item[camera_key] if camera_key is not None else None
    text = next((item[k] for k in item if str(k).lower() in _TEXT_FIELDS and k != camera_key and isinstance(item[k], str)), None)
    if not text:
        candidates = [v for k, v in item.items() if k != camera_key and isinstance(v, str) and len(v) > 8]
        text = max(candidates, key=len) if candidates else None
    return (text, camera) if text else None


def _paired_cameras(obj: dict, found: list[Beat]) -> list[Beat]:
    """A `{"frames": [...], "camera": [...]}` object (what `plan --json` prints): the parallel camera list joins in."""
    for key in obj:
        values = obj[key]
        if str(key).lower() in _CAMERA_LISTS and isinstance(values, list) and len(values) == len(found):
            return [(text, values[i] if camera is None else camera) for i, (text, camera) in enumerate(found)]
    return found


def _items_from(obj: Any, depth: int = 0) -> list[Beat] | None:
    """Frames from a parsed object: a list of strings/objects, or an object holding one."""
    if depth > 4:
        return None
    if isinstance(obj, (list, tuple)):
        out: list[Beat] = []
        for item in obj:
            if isinstance(item, str):
                out.append(_split_suffix(item))
            elif isinstance(item, dict):
                beat = _beat_from_dict(item)
                if beat:
                    out.append(beat)
            elif isinstance(item, (list, tuple)):
                inner = _items_from(item, depth + 1)
                out.extend(inner or [])
        return out or None
    if isinstance(obj, dict):
        for key in sorted(obj, key=lambda k: str(k).lower() not in _LIST_FIELDS):
            if str(key).lower() in _CAMERA_LISTS:
                continue
            found = _items_from(obj[key], depth + 1) if isinstance(obj[key], (list, tuple, dict)) else None
            if found:
                return _paired_cameras(obj, found)
        strings = [v for v in obj.values() if isinstance(v, str) and len(v) > 8]
        return [_split_suffix(v) for v in strings] if len(strings) >= 2 else None
    return None


#: A move named inside the prompt's text: "(camera: push-in)", "[Camera movement: slow pan left]", "... - Camera: zoom in."
_INLINE_CAMERA = re.compile(
    r"[*_\s]*(?:[(\[]\s*[*_]*|(?:^|[,;.\-–—]|\s)\s*[*_]*)(?:camera|cam)(?:\s+(?:move(?:ment)?|motion|work))?[*_]*\s*[:=]\s*[*_]*"
    r"([^()\[\]\n]{1,40}?)[*_]*\s*(?:[)\]]|[.;]?\s*$)[*_]*",
    re.I,
)


def _split_suffix(text: str) -> Beat:
    """`a prompt | push-in` -> (prompt, move); `a prompt (camera: push-in)` too. Text without either, or whose move
    part names no move (a prompt that uses `|` itself, "a vintage camera: brass and leather"), keeps no move of its own."""
    prompt, move = split_camera_suffix(text)
    if not move and (inline := _INLINE_CAMERA.search(text)):
        prompt, move = (text[:inline.start()] + text[inline.end():]).strip(" *_-–—,;"), inline.group(1).strip(" *_.")
    if not move or not prompt.strip() or len(move) > 40:
        return text, None
    read, guess = read_move(move)
    return (prompt, move) if read.name != "static" or guess is None or "read as" in guess else (text, None)


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
        return _headed(text.splitlines()) or [_LINE_LABEL.sub("", ln, count=1) for ln in labelled]
    if len(lines) >= 2:
        return [ln for ln in lines if not ln.rstrip().endswith(":")]
    return []


def _headed(lines: list[str]) -> list[str] | None:
    """Frames written as headings over their own paragraphs ("Scene 1 - Morning" / "A girl walks through the grass."):
    each heading's title joined to its paragraph. Only when every heading has one (a list with a closing remark is a
    list); the last paragraph ends at a blank line."""
    blocks: list[tuple[str, list[str]]] = []
    closed = False  # a blank line after a paragraph ends it: what follows is no part of the frame
    for ln in lines:
        if _LINE_LABEL.match(ln):
            blocks.append((_LINE_LABEL.sub("", ln, count=1).strip(), []))
            closed = False
        elif not blocks:
            continue
        elif not ln.strip():
            closed = bool(blocks[-1][1])
        elif not closed:
            blocks[-1][1].append(ln.strip())
    if not blocks or not all(body for _, body in blocks):
        return None
    out = []
    for title, body in blocks:
        paragraph = " ".join(body)
        title = title.strip(" *_:-–—")
        # a short title names the frame ("Morning"); a long one is the frame's first line, wrapped onto the next
        out.append(paragraph if not title else f"{title}: {paragraph}" if len(title.split()) <= 6 else f"{title} {paragraph}")
    return out


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+", text.strip()) if s]


def _table_rows(text: str) -> list[dict[str, str]] | None:
    """A Markdown table's rows as objects keyed by its header ("| # | prompt | camera |"), for `_beat_from_dict`."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in text.splitlines()
            if ln.strip().startswith("|") and ln.strip().endswith("|") and ln.count("|") >= 3]
    if len(rows) < 3 or not all(re.fullmatch(r":?-{2,}:?", c) for c in rows[1]):
        return None
    header = [re.sub(r"[*_`]", "", h).strip() or f"column {i}" for i, h in enumerate(rows[0])]
    return [dict(zip(header, row)) for row in rows[2:] if len(row) == len(header)] or None


def extract_items(reply: str) -> list[str]:
    """The raw frame strings a reply holds (without their moves)."""
    return [text for text, _ in extract_beats(reply)]


def extract_beats(reply: str) -> list[Beat]:
    """The raw frames a reply holds, each with the camera it names (None if none), by the most structured reading."""
    text = strip_template(reply if isinstance(reply, str) else "")
    if re.fullmatch(r"\s*(null|none|true|false|undefined|nan|[-+]?\d+(\.\d*)?)\s*", text, re.I):
        return []  # a bare null / number / boolean holds no frames
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in candidates:
        for source in [chunk, re.sub(r"^[^\[\{]*?=\s*", "", chunk.strip(), count=1)] + _bracketed(chunk):
            items = _items_from(_parse_literal(source))
            if items and any(_clean(text) for text, _ in items):
                return items
    for chunk in candidates:
        items = _truncated_strings(chunk)
        if len(items) >= 2:
            return [_split_suffix(i) for i in items]
    body = _FENCE.sub(lambda m: m.group(1), text)
    table = _items_from(_table_rows(body))
    if table:
        return table
    if _REFUSAL.search(body) and not re.search(r"\n\s*(?:\d+[.)]|[-*•])\s", body):
        return []
    return [_split_suffix(i) for i in _lines(body) or _sentences(body)]


def _clean(item: Any) -> str:
    text = str(item).translate(_QUOTES)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = _LINE_LABEL.sub("", text, count=1)
    text = re.sub(r"\s+", " ", text).strip().strip(",;[]{}").strip()
    text = re.sub(r"(?<!\.)\.$", "", text).rstrip()  # a sentence's full stop (not an ellipsis): the style words follow
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


def fit_clip(text: str, limit: int = CLIP_MAX_TOKENS, *, keep: str = "") -> str:
    """Trim whole words from the end of the scene part so the prompt fits CLIP, keeping the style words and `keep` (a
    detail that ends the scene part, e.g. what makes a repeated frame distinct: trimming must not take it away)."""
    if token_count(text) <= limit:
        return text
    tail = (f", {keep}" if keep else "") + ", " + defaults.STYLE_TAG
    body = text.replace(defaults.STYLE_SUFFIX, "").replace(defaults.STYLE_TAG, "").strip(" ,")
    if keep and body.endswith(keep):
        body = body[:-len(keep)].rstrip(" ,")
    words = body.split()
    lo, hi = 0, len(words)
    while lo < hi:  # the most words that still fit
        mid = (lo + hi + 1) // 2
        if token_count(" ".join(words[:mid]).rstrip(" ,;") + tail) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return (" ".join(words[:lo]).rstrip(" ,;") + tail).strip(" ,")


def normalize_reply(reply: Any, idea: str, n: int, backend: str = "llm") -> Plan:
    """Exactly `n` frame prompts, each with a known camera move, from a model's reply; what had to be repaired is in
    `Plan.warnings`. A frame that names no move gets the offline planner's move for its place in the loop."""
    idea = clean_idea(idea)
    n = check_frame_count(n)
    warnings: list[str] = []
    beats = [(c, camera) for c, camera in ((_clean(text), camera) for text, camera in
                                            extract_beats(reply if isinstance(reply, str) else "")) if c]
    if not beats:
        warnings.append("the reply held no frame prompts; used the offline plan")
    if len(beats) > n:
        warnings.append(f"the reply had {len(beats)} frames; kept {n} evenly spaced")
        beats = [beats[round(i * (len(beats) - 1) / (n - 1))] for i in range(n)] if n > 1 else beats[:1]
    offline = OfflinePlanner().plan(idea, n)
    if 0 < len(beats) < n:
        warnings.append(f"the reply had {len(beats)} of {n} frames; completed from the offline plan")
    frames = [text for text, _ in beats] + offline.frames[len(beats):]
    camera = list(offline.camera)
    for i, (_, raw) in enumerate(beats):
        if raw is None:
            continue
        move, guess = read_move(raw)
        camera[i] = str(move)
        if guess:
            warnings.append(f"frame {i + 1}: {guess}")
    restyled = 0
    for i, frame in enumerate(frames):
        if "ghibli" not in frame.lower():
            frames[i] = f"{frame}, {defaults.STYLE_SUFFIX}"
            restyled += 1
    if restyled and beats:
        warnings.append(f"added the Ghibli style to {restyled} frame(s)")
    trimmed = 0
    seen: set[str] = set()
    duplicates = 0
    for i, frame in enumerate(frames):
        fitted = fit_clip(frame)
        trimmed += fitted != frame
        k = 0
        while fitted.lower() in seen:  # make a repeated frame distinct with a motion detail
            # each try adds a detail not tried before (the last ones unique), kept through trimming: this ends
            detail = MOTION[(i + k) % len(MOTION)] if k < len(MOTION) else f"moment {i + 1}.{k - len(MOTION) + 1}"
            fitted = fit_clip(f"{fitted.replace(', ' + defaults.STYLE_TAG, '')}, {detail}, {defaults.STYLE_TAG}", keep=detail)
            k += 1
        duplicates += k > 0
        seen.add(fitted.lower())
        frames[i] = fitted
    if duplicates:
        warnings.append(f"made {duplicates} repeated frame(s) distinct")
    if trimmed:
        warnings.append(f"trimmed {trimmed} frame(s) to CLIP's {CLIP_MAX_TOKENS + 2}-token limit")
    # a reply without a music prompt gets the rule's (no warning: it matters only to --music, which says where it came from)
    music = (music_from_reply(_parse_literal(_json_part(reply))) if isinstance(reply, str) else None) or offline.music
    return Plan(idea=idea, frames=frames, backend=backend, warnings=warnings, camera=camera, music=music)


def _json_part(reply: str) -> str:
    """The JSON object of a reply: inside a code fence if there is one, from its first brace to its last."""
    text = strip_template(reply)
    fenced = _FENCE.search(text)
    text = fenced.group(1) if fenced else text
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else ""
