"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions protocol (which the HF router also speaks).

Tests script what it answers, one step per request: a reply text, an HTTP error with headers and an
error body in OpenAI or HF style, a stall past the client's timeout, a body that is not JSON, a
connection dropped mid-answer. It records every request so tests can check what the SDKs sent.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """One scripted answer."""

    content: str | None = None  # the assistant message (None: no content field value)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # overrides the normal chat-completion body (dict -> JSON, str/bytes -> raw)
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False  # close the socket without answering
    choices: list | None = None  # overrides the choices list


def chat_body(content: str | None, model: str = "test-model", choices: list | None = None) -> dict:
    """A chat.completion object as OpenAI-compatible servers return it."""
    if choices is None:
        choices = [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": choices, "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


class ChatServer:
    """`with ChatServer() as srv:` then point a client at `srv.url` (with `/v1`) and push `Step`s (header names are recorded lower-case)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.default = Step(content='["a quiet pond, Studio Ghibli style"]')
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw or b"null")
                except ValueError:
                    payload = None
                with server._lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "json": payload})
                    step = server.steps.pop(0) if server.steps else server.default
                if step.delay:
                    time.sleep(step.delay)
                if step.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if step.body is None:
                    model = payload.get("model", "test-model") if isinstance(payload, dict) else "test-model"
                    body = chat_body(step.content, model=model or "test-model", choices=step.choices)
                else:
                    body = step.body
                if isinstance(body, (dict, list)):
                    data = json.dumps(body).encode()
                else:
                    data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(step.status)
                    self.send_header("Content-Type", step.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in step.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)  # quick shutdown

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, *steps: Step) -> "ChatServer":
        self.steps.extend(steps)
        return self

    def __enter__(self) -> "ChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def openai_error(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def hf_error(message: str) -> dict:
    return {"error": message}
