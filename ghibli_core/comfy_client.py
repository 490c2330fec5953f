"""Queue an API-format workflow on a running ComfyUI, follow it over the websocket, fetch the result.

    graph = patch_workflow(load_workflow(DEFAULT_WORKFLOW), idea="a cat bus in the rain", frames=6)
    client = ComfyClient("http://127.0.0.1:8188")
    data, name = client.render(graph, on_event=print)

Plain HTTP and a websocket (ComfyUI's own protocol): this module never imports ComfyUI.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import Cancelled, GhibliError, InputError

#: The shipped API workflows are package data (the pack's workflows/api/ holds identical copies).
WORKFLOWS_DIR = Path(__file__).resolve().parent / "workflows"
DEFAULT_WORKFLOW = WORKFLOWS_DIR / "ghibli_animation.json"
SAVER = "GhibliSaveAnimation"


class ComfyRunError(GhibliError):
    """The server refused or failed the workflow; the message carries its own words."""


def is_api_graph(graph: Any) -> bool:
    """An API-format graph: {id: {"class_type": ..., "inputs": ...}} (not a canvas file, which has nodes and links)."""
    return isinstance(graph, dict) and all(isinstance(n, dict) and "class_type" in n for n in graph.values())


def load_workflow(path: str | Path) -> dict[str, Any]:
    """An API-format graph from disk, refused early when it is a canvas (UI-format) file."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("workflow", f"no file at {file.resolve()}",
                         "pass --workflow with an API-format workflow (workflows/api/ghibli_animation.json in the pack)")
    try:
        graph = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError("workflow", f"{file.name} is not valid JSON ({exc})", "export it again with Workflow > Export (API)") from exc
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise InputError("workflow", f"{file.name} is a canvas (UI-format) workflow", "export it with Workflow > Export (API), or use workflows/api/")
    if not is_api_graph(graph):
        raise InputError("workflow", f"{file.name} is not an API-format graph", 'expected {"<id>": {"class_type": ..., "inputs": {...}}}')
    return graph


def _nodes_of(graph: dict, class_type: str) -> list[dict]:
    return [n for n in graph.values() if n.get("class_type") == class_type]


#: The saver's `format` choice for an output file's extension (its choices are the extensions, but for animated PNG).
SAVER_FORMAT_BY_EXT = {".gif": "gif", ".webp": "webp", ".png": "apng", ".mp4": "mp4", ".webm": "webm"}


def saver_format(output: str | Path) -> str:
    """The saver's `format` value that writes `output`'s extension."""
    ext = Path(output).suffix.lower()
    if ext not in SAVER_FORMAT_BY_EXT:
        raise InputError("output", f"unknown output format {ext or '(none)'!r}", f"use one of {', '.join(SAVER_FORMAT_BY_EXT)}")
    return SAVER_FORMAT_BY_EXT[ext]


def patch_workflow(graph: dict[str, Any], *, idea: str | None = None, frames: int | None = None, seed: int | None = None,
                   width: int | None = None, height: int | None = None, steps: int | None = None,
                   preset: str | None = None, output_format: str | None = None, camera: str | None = None) -> dict[str, Any]:
    """A copy of `graph` with the idea and settings put into the Ghibli nodes that take them.

    A preset also writes its values into the widgets it sets (as the canvas does); `steps` alone switches
    the node to the "custom" preset, since a named preset's own step count would otherwise win. `camera`
    (`MOVE[:STRENGTH]`) sets the Ghibli Camera node's move.
    """
    from .presets import get_preset

    graph = json.loads(json.dumps(graph))
    painter: dict[str, Any] = {}
    if preset is not None:
        chosen = get_preset(preset)
        painter = {"preset": chosen.name, **chosen.painting_values()}
    if steps is not None:
        painter.update(preset="custom", steps=steps)
    targets = {
        "idea": ("GhibliFramePlanner", idea), "frames": ("GhibliFramePlanner", frames), "seed": ("GhibliSequentialImg2Img", seed),
        "width": ("GhibliSequentialImg2Img", width), "height": ("GhibliSequentialImg2Img", height),
        **{k: ("GhibliSequentialImg2Img", v) for k, v in painter.items()}, "format": (SAVER, output_format),
    }
    if camera is not None:
        from .camera import Move

        move = Move.parse(camera)
        targets.update({"move": ("GhibliCamera", move.name), "strength": ("GhibliCamera", float(move.strength))})
    for field, (class_type, value) in targets.items():
        if value is None:
            continue
        nodes = _nodes_of(graph, class_type)
        if not nodes:
            raise InputError("workflow", f"has no {class_type} node to set {field} on", "use the pack's workflow, or drop that option")
        for node in nodes:
            node.setdefault("inputs", {})[field] = value
    if preset is not None:  # in-betweens live in the Frame Blender, where the graph has one
        for node in _nodes_of(graph, "GhibliFrameBlender"):
            node.setdefault("inputs", {})["interpolate"] = get_preset(preset).interpolate
    if not _nodes_of(graph, SAVER):
        raise InputError("workflow", f"has no {SAVER} node, so there is no animation to fetch", "add a Ghibli Animation Saver")
    if output_format is not None and output_format not in SOUND_SAVER_FORMATS:
        _drop_sound(graph)
    return graph


#: The saver formats that carry sound (the others are written without the workflow's soundtrack).
SOUND_SAVER_FORMATS = ("mp4", "webm")


def _drop_sound(graph: dict[str, Any]) -> None:
    """The savers' sound disconnected, and the nodes that only fed it (the shipped workflow's Ghibli Music) left out:
    a GIF, WebP or PNG cannot carry sound."""
    for node in _nodes_of(graph, SAVER):
        node.get("inputs", {}).pop("audio", None)
    while True:
        used = {v[0] for n in graph.values() for v in n.get("inputs", {}).values() if isinstance(v, list) and v}
        idle = [k for k, n in graph.items() if n.get("class_type") == "GhibliMusic" and k not in used]
        if not idle:
            return
        for k in idle:
            del graph[k]


@dataclass
class Event:
    """One websocket message worth showing: kind is "progress", "executing", "cached" or "done"."""

    kind: str
    node: str | None = None
    value: int = 0
    max: int = 0


def _node_errors(body: dict) -> str:
    parts = []
    for node_id, entry in (body.get("node_errors") or {}).items():
        for err in entry.get("errors", []):
            parts.append(f"node {node_id} ({entry.get('class_type', '?')}): {err.get('message', '')} {err.get('details', '')}".strip())
    top = body.get("error", {})
    head = top.get("message", "the workflow was refused") if isinstance(top, dict) else str(top)
    return head + (": " + "; ".join(parts) if parts else "")


class ComfyClient:
    """A ComfyUI server at `server` (http://host:port)."""

    def __init__(self, server: str, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlparse(server if "://" in server else f"http://{server}")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError("server", f"{server!r} is not an http(s) URL", "use e.g. http://127.0.0.1:8188")
        self.base = f"{parsed.scheme}://{parsed.netloc}"
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(self, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            raise InputError("server", f"no ComfyUI answers at {self.base} ({getattr(exc, 'reason', exc)})",
                             "start ComfyUI (python main.py --listen 127.0.0.1 --port 8188) or pass --server") from exc

    def get_json(self, path: str) -> Any:
        status, body = self._request(path)
        if status != 200:
            raise ComfyRunError(f"GET {path} answered HTTP {status}")
        return json.loads(body)

    def check_nodes(self, graph: dict) -> None:
        """Refuse a graph whose node types this server does not have (pack not installed), before queueing."""
        known = self.get_json("/object_info")
        missing = sorted({n["class_type"] for n in graph.values()} - set(known))
        if missing:
            raise InputError("server", f"{self.base} has no {', '.join(missing)} node",
                             "install the pack into ComfyUI's custom_nodes and restart it")

    def queue(self, graph: dict) -> str:
        status, body = self._request("/prompt", {"prompt": graph, "client_id": self.client_id})
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            answer = {"error": {"message": body[:200].decode(errors="replace")}}
        if status != 200:
            raise ComfyRunError(f"ComfyUI refused the workflow (HTTP {status}): {_node_errors(answer)}")
        return answer["prompt_id"]

    def connect(self, timeout: float = 3600.0):
        """The websocket that carries this client's progress messages (open it before queueing)."""
        import websocket  # websocket-client

        scheme = "wss" if self.base.startswith("https") else "ws"
        return websocket.create_connection(f"{scheme}://{self.base.split('://', 1)[1]}/ws?clientId={self.client_id}", timeout=timeout)

    def follow(self, prompt_id: str, on_event: Callable[[Event], None] | None = None, ws=None) -> None:
        """Read the websocket until `prompt_id` finishes; raise on an error or an interrupt."""
        own = ws is None
        ws = ws or self.connect()
        try:
            if own and self._finished(prompt_id):  # it may have finished before the socket opened
                return
            while True:
                message = ws.recv()
                if not isinstance(message, str):
                    continue  # binary: preview images
                msg = json.loads(message)
                kind, data = msg.get("type"), msg.get("data", {})
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                if kind == "progress" and on_event:
                    on_event(Event("progress", str(data.get("node")), int(data.get("value", 0)), int(data.get("max", 0))))
                elif kind == "execution_cached" and on_event:
                    on_event(Event("cached", ",".join(map(str, data.get("nodes", [])))))
                elif kind == "executing":
                    if data.get("node") is None:
                        if on_event:
                            on_event(Event("done"))
                        return
                    if on_event:
                        on_event(Event("executing", str(data["node"])))
                elif kind == "execution_error":
                    raise ComfyRunError(f"node {data.get('node_id')} ({data.get('node_type')}) failed: {data.get('exception_message', '').strip()}")
                elif kind == "execution_interrupted":
                    raise Cancelled("the run was interrupted on the server")
        finally:
            if own:
                ws.close()

    def _finished(self, prompt_id: str) -> bool:
        entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
        return bool(entry and entry.get("status", {}).get("completed") is not None)

    def result_file(self, prompt_id: str) -> dict:
        """The saved animation's {filename, subfolder, type} from /history."""
        entry = self.get_json(f"/history/{prompt_id}").get(prompt_id) or {}
        status = entry.get("status", {})
        if status.get("status_str") == "error":
            details = [m[1] for m in status.get("messages", []) if m[0] in ("execution_error", "execution_interrupted")]
            raise ComfyRunError(f"the run failed: {json.dumps(details)[:500]}")
        for output in (entry.get("outputs") or {}).values():
            if output.get("animations"):
                return output["animations"][0]
        raise ComfyRunError(f"prompt {prompt_id} saved no animation (is the Ghibli Animation Saver connected?)")

    def download(self, file: dict) -> bytes:
        query = urllib.parse.urlencode({k: file.get(k, "") for k in ("filename", "subfolder", "type")})
        status, body = self._request(f"/view?{query}")
        if status != 200:
            raise ComfyRunError(f"/view {file.get('filename')} answered HTTP {status}")
        return body

    def render(self, graph: dict, on_event: Callable[[Event], None] | None = None) -> tuple[bytes, str]:
        """Queue, follow, fetch: (the animation's bytes, its file name on the server)."""
        self.check_nodes(graph)
        ws = self.connect()
        try:
            prompt_id = self.queue(graph)
            self.follow(prompt_id, on_event, ws)
        finally:
            ws.close()
        file = self.result_file(prompt_id)
        return self.download(file), file["filename"]
