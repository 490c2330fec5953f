"""Plans on disk: what `ghibli-anim plan --json` writes, a user hand-edits, and `--plan-file` reads back.

Accepted: a JSON object with a `frames` list (and optionally `idea` and a parallel `camera` list of moves), a JSON
list of strings or of `{"prompt": ..., "camera": ...}` objects, or a text file with one frame prompt per line (blank
lines and `#` comments ignored), where a line may end in ` | MOVE` (`| push-in:0.5`). A hand-written plan is used as
written: the user's words win over our repairs, so a move must be one of the vocabulary (a typo is an error naming
the frame), and we only warn where CLIP will cut a frame. A plan without moves holds the camera still.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError
from ..files import atomic_path
from .music import music_from_reply
from .base import MAX_FRAMES, Plan
from .camera import move_text, split_camera_suffix
from .normalize import CLIP_MAX_TOKENS, token_count

FIX = 'write a JSON object like {"frames": ["first frame, Studio Ghibli style", ...]} (as `ghibli-anim plan --json` prints)'
LINES_FIX = "write one frame prompt per line (lines starting with # are comments), or the JSON `ghibli-anim plan --json` prints"


def _frames_from_json(data: object, name: str, input_name: str) -> tuple[list, list | None, str | None]:
    """(frames, the parallel camera list or None, idea or None) of a parsed plan."""
    if isinstance(data, dict):
        if "frames" not in data:
            raise InputError(input_name, f"{name} has no `frames` list", FIX)
        idea = data.get("idea")
        camera = data.get("camera")
        if camera is not None and (not isinstance(camera, list) or not isinstance(data["frames"], list) or len(camera) != len(data["frames"])):
            raise InputError(input_name, f"`camera` in {name} is not a list of one move per frame",
                             'give a list as long as `frames`, e.g. ["push-in", "pull-back"], or leave it out')
        return data["frames"], camera, idea if isinstance(idea, str) and idea.strip() else None
    return data, None, None


def _split_objects(frames: list, camera: list | None) -> tuple[list, list | None]:
    """`{"prompt": ..., "camera": ...}` entries -> their prompts, and their moves (merged into `camera`)."""
    if not any(isinstance(f, dict) for f in frames):
        return frames, camera
    prompts, moves = [], list(camera) if camera is not None else [None] * len(frames)
    for i, frame in enumerate(frames):
        if isinstance(frame, dict):
            prompts.append(frame.get("prompt"))
            if frame.get("camera") is not None:
                moves[i] = frame["camera"]
        else:
            prompts.append(frame)
    return prompts, moves


def _check_moves(moves: list | None, name: str, input_name: str) -> list[str]:
    """Each frame's move, canonical (`static` where none was given); [] when the plan names no move at all."""
    if moves is None or all(m is None for m in moves):
        return []
    out = []
    for i, move in enumerate(moves, start=1):
        try:
            out.append(move_text("static" if move is None else move))
        except InputError as exc:
            raise InputError(input_name, f"frame {i} in {name}: {exc.problem}", exc.fix) from None
    return out


def load_plan_file(path: str | os.PathLike) -> Plan:
    """Read and check a plan file; every problem names the file and the frame at fault."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("plan-file", f"no file at {file.resolve()}", "check the path, or write one with `ghibli-anim plan IDEA --json -o plan.json`")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("plan-file", f"{file.name} is not readable UTF-8 text ({type(exc).__name__})", FIX) from exc
    return parse_plan_text(text, file.name, as_json=file.suffix.lower() == ".json")


def parse_plan_text(text: str, name: str, *, input_name: str = "plan-file", as_json: bool = False, idea: str | None = None) -> Plan:
    """A plan from text: JSON (as `plan --json` writes) or one prompt per line (`#` comments ignored).

    `name` says where the text came from in errors (a file name, "the prompts box"); `idea` is used
    when the text does not carry one.
    """
    if as_json or text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(input_name, f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", FIX) from exc
        frames, moves, json_idea = _frames_from_json(data, name, input_name)
        idea = json_idea or idea
        music = music_from_reply(data) or ""
        if not isinstance(frames, list):
            raise InputError(input_name, f"`frames` in {name} is a {type(frames).__name__}, not a list", FIX)
        frames, moves = _split_objects(frames, moves)
        fix = FIX
    else:
        lines = [split_camera_suffix(ln.strip()) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        frames, moves = [prompt for prompt, _ in lines], [move for _, move in lines]
        music = ""
        fix = LINES_FIX
    if not frames:
        raise InputError(input_name, f"{name} holds no frames", fix)
    if len(frames) > MAX_FRAMES:
        raise InputError(input_name, f"{name} holds {len(frames)} frames", f"keep at most {MAX_FRAMES}")
    for i, frame in enumerate(frames, start=1):
        if not isinstance(frame, str) or not frame.strip():
            raise InputError(input_name, f"frame {i} in {name} is {'empty' if isinstance(frame, str) else 'not text'}",
                             "give every frame a non-empty prompt string")
    frames = [" ".join(f.split()) for f in frames]
    camera = _check_moves(moves, name, input_name)
    warnings = [f"frame {i} has {count} tokens; CLIP reads only the first {CLIP_MAX_TOKENS + 2} (shorten it)"
                for i, count in ((i, token_count(f)) for i, f in enumerate(frames, start=1)) if count > CLIP_MAX_TOKENS]
    idea = idea.strip() if isinstance(idea, str) and idea.strip() else frames[0]
    return Plan(idea=idea, frames=frames, backend="file", warnings=warnings, camera=camera, music=music)


def check_plan_output(path: str | os.PathLike) -> Path:
    """Refuse a plan output that is a folder or whose folder does not exist (before any planning)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError("output", f"{target} is a folder", "give a file name such as plan.json")
    if not target.resolve().parent.is_dir():
        raise InputError("output", f"folder {target.resolve().parent} does not exist", "create it first or choose another path")
    return target


def plan_json(plan: Plan) -> dict:
    """The plan as `plan --json` prints it and `-o` writes it: `frames` (the prompts, as ever) and `camera`, the
    parallel list of moves (`NAME` or `NAME:STRENGTH`)."""
    return {"idea": plan.idea, "backend": plan.backend, "model": plan.model, "frames": plan.frames,
            "camera": [str(m) for m in plan.moves()], "music": plan.music, "warnings": plan.warnings}


def save_plan_file(plan: Plan, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write `plan` as JSON (atomically), in the shape `load_plan_file` reads."""
    target = check_plan_output(path)
    body = plan_json(plan)
    body.update(extra or {})
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
