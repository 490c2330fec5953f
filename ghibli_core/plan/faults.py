"""Network and server faults of LLM backends: what to call them, whether to retry, how long to wait.

A fault never stops an animation: the planner turns it into a warning and uses the offline plan.
These helpers are shared by every HTTP backend so all of them retry and word faults the same way.
"""
from __future__ import annotations

import email.utils
import json
import os
import random
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, TypeVar

T = TypeVar("T")

#: Environment variables holding credentials; their values are redacted from every message.
SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


class PlanFault(Exception):
    """A backend call that failed; `cause` is a short human phrase (no secrets)."""

    def __init__(self, cause: str, *, retryable: bool = False, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status  # the HTTP status, when the server answered

    @property
    def refused_request(self) -> bool:
        """The server understood the call but refused its shape (400, 422, 501): worth one plainer try."""
        return self.status in (400, 422, 501)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for rate limits and server errors.

    Waits honour the server's Retry-After; without one they back off exponentially (with jitter so
    many clients do not retry in lockstep). A wait longer than `max_wait` is not worth it for a plan:
    we give up and use the offline plan at once.
    """

    max_retries: int = 3
    base_delay: float = 1.0
    max_wait: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return self.base_delay * (2 ** attempt) * (1 + 0.25 * random.random())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); None if absent or unreadable."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    try:
        if "retry-after-ms" in lower:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        value = lower.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def server_message(body: str | bytes | None, limit: int = 160) -> str:
    """The error text a server put in its body (`{"error": ...}` in OpenAI and HF style), shortened."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return ""
    text = body
    try:
        data = json.loads(body)
        err = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(err, dict):
            err = err.get("message") or err.get("error") or err.get("detail") or ""
        text = err if isinstance(err, str) else ""
    except (ValueError, AttributeError):
        pass
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def status_fault(status: int, headers: Mapping[str, str] | None = None, body: str | bytes | None = None,
                 key_env: str | None = None) -> PlanFault:
    """A fault for an HTTP error status, retryable for 408, 429 and 5xx."""
    said = server_message(body)
    detail = f": {said}" if said else ""
    if status == 401:
        hint = f"; check {key_env}" if key_env else ""
        return PlanFault(f"the server refused the credentials (HTTP 401){detail}{hint}")
    if status == 403:
        return PlanFault(f"access denied (HTTP 403){detail}")
    if status == 404:
        return PlanFault(f"model or endpoint not found (HTTP 404){detail}")
    if status == 429:
        return PlanFault(f"rate limited (HTTP 429){detail}", retryable=True, retry_after=retry_after_seconds(headers))
    if status == 501:
        return PlanFault(f"not implemented by the server (HTTP 501){detail}", status=status)
    if status == 408 or status >= 500:
        return PlanFault(f"server error (HTTP {status}){detail}", retryable=True, retry_after=retry_after_seconds(headers))
    return PlanFault(f"request rejected (HTTP {status}){detail}", status=status)


def connection_cause(exc: BaseException) -> str:
    """Why a connection failed, from the OS-level exception somewhere in the chain."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, ConnectionRefusedError):
            return "connection refused"
        if isinstance(node, socket.gaierror):
            return "host not found"
        if isinstance(node, ssl.SSLError):
            return "TLS error"
        if isinstance(node, (TimeoutError, socket.timeout)):
            return "timed out"
        text = str(node).lower()
        for needle, cause in (("refused", "connection refused"), ("name or service not known", "host not found"),
                              ("nodename nor servname", "host not found"), ("reset by peer", "connection reset"),
                              ("disconnected", "server closed the connection")):
            if needle in text:
                return cause
        node = node.__cause__ or node.__context__
    return f"could not connect ({type(exc).__name__})"


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, retried on retryable faults within `policy`; the last fault is raised."""
    attempt = 0
    while True:
        try:
            return call()
        except PlanFault as fault:
            if not fault.retryable:
                raise
            if attempt >= policy.max_retries:
                raise PlanFault(f"{fault.cause} (gave up after {attempt + 1} attempts)") from fault
            wait = policy.delay(attempt, fault.retry_after)
            if wait > policy.max_wait:
                raise PlanFault(f"{fault.cause}; the server asked to wait {wait:.0f} s, "
                                f"more than the {policy.max_wait:.0f} s limit") from fault
            sleep(wait)
            attempt += 1


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced by ***, also when shown cut short (servers echo "sk-abc...xyz")."""
    secrets = [x for x in secrets if x and len(x) >= 6]
    for secret in secrets:
        text = text.replace(secret, "***")

    def hide(match: re.Match) -> str:
        word = match.group(0)
        return "***" if any(word in secret for secret in secrets) else word

    return re.sub(r"[\w\-]{6,}", hide, text) if secrets else text


def known_secrets() -> list[str]:
    """Every credential this process could send, from the environment (any backend's)."""
    return [v for v in (os.environ.get(k, "").strip() for k in SECRET_ENV) if v]
