"""What every LLM backend shares: settings, the fault-to-offline fallback, and safe names for metadata."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from .. import defaults, registry
from ..errors import InputError, first_line
from .base import Plan, check_frame_count, clean_idea
from .faults import PlanFault, RetryPolicy, call_with_retries, known_secrets, redact
from .normalize import normalize_reply
from .offline import OfflinePlanner
from .prompt import build_messages, max_reply_tokens, response_format

log = logging.getLogger(__name__)

from ..registry import PLAN_BACKENDS as BACKEND_NAMES  # noqa: E402 - the one definition


@dataclass(frozen=True)
class PlannerSettings:
    """How to plan: the backend and its knobs. Keys are never stored here; backends read the environment."""

    backend: str = "offline"
    model: str | None = None
    base_url: str | None = None
    provider: str | None = None  # hf only: an Inference Provider name, e.g. "together"; default "auto"
    temperature: float = defaults.TEMPERATURE
    seed: int | None = None
    timeout: float = defaults.PLAN_TIMEOUT
    max_retries: int = 3
    max_wait: float = 30.0
    fallback: bool = False  # a missing key or package: warn and plan offline instead of refusing
    device: str = "auto"  # transformers only
    allow_pickle: bool = False  # transformers only: load a model with pickle weights only (they can run code)

    def __post_init__(self) -> None:
        registry.check_all(self, "planner", skip=("device",))  # a device may name its index (cuda:1): resolve_device checks it
        if self.base_url is not None:
            parts = urlsplit(self.base_url.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InputError("base-url", f"{safe_url(self.base_url)!r} is not an http(s) URL",
                                 "write e.g. http://127.0.0.1:11434/v1 (Ollama) or http://localhost:8000/v1 (vLLM)")
        if self.model is not None and not str(self.model).strip():
            object.__setattr__(self, "model", None)

    @property
    def model_name(self) -> str | None:
        """The model to ask: the one given, or the backend's default."""
        return self.model or defaults.PLAN_MODELS.get(self.backend)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_retries=self.max_retries, max_wait=self.max_wait)

    def to_dict(self) -> dict:
        """Settings safe for metadata: no credentials inside URLs."""
        return {"backend": self.backend, "model": self.model_name, "base_url": safe_url(self.base_url),
                "provider": self.provider, "temperature": self.temperature, "seed": self.seed}

    def replace(self, **changes) -> "PlannerSettings":
        return replace(self, **changes)


def safe_url(url: str | None) -> str | None:
    """`url` without user:password, query or fragment (they may carry keys)."""
    if not url:
        return url
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class LLMPlanner:
    """Base of the chat-model backends: ask once (with retries), normalise the reply, or fall back."""

    name = "llm"
    key_env: str | None = None

    def __init__(self, settings: PlannerSettings) -> None:
        self.settings = settings
        self.model = settings.model_name
        self._secrets: list[str] = []
        self._structured = True  # until the server refuses a response_format

    # -- what each backend supplies --------------------------------------------------------------
    def check(self) -> None:
        """Raise InputError now for anything the user must fix (missing key, package, model)."""

    def complete(self, messages: list[dict[str, str]], max_tokens: int, schema: dict | None = None) -> str:
        """One chat-completion attempt; raises PlanFault on any failure. `schema` is the reply's structure as an
        OpenAI-style `response_format`, for backends whose servers can enforce it."""
        raise NotImplementedError

    def complete_structured(self, messages: list[dict[str, str]], max_tokens: int, schema: dict) -> str:
        """`complete` with structured output; a server that refuses it (400, 422, 501) is asked once more without,
        and not asked with it again (the normaliser reads any reply shape)."""
        if self._structured:
            try:
                return self.complete(messages, max_tokens, schema)
            except PlanFault as fault:
                if not fault.refused_request:
                    raise
                log.info("%s refused structured output (%s); asking without it", self.label, fault.cause)
                self._structured = False
        return self.complete(messages, max_tokens, None)

    @property
    def secrets(self) -> list[str]:
        return self._secrets + known_secrets()

    @property
    def model_label(self) -> str | None:
        """The model's name as stored in plans and metadata."""
        return self.model

    # -- shared ------------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        where = f" at {safe_url(self.settings.base_url)}" if self.settings.base_url else ""
        return f"{self.name} backend ({self.model}{where})"

    def fallback_plan(self, idea: str, n: int, cause: str) -> Plan:
        plan = OfflinePlanner().plan(idea, n)
        plan.warnings.insert(0, redact(f"{self.label}: {cause}; used the offline plan", self.secrets))
        return plan

    def plan(self, idea: str, n: int) -> Plan:
        idea = clean_idea(idea)
        n = check_frame_count(n)
        messages = build_messages(idea, n)
        try:
            reply = call_with_retries(lambda: self.complete_structured(messages, max_reply_tokens(n), response_format(n)),
                                      self.settings.retry_policy())
        except PlanFault as fault:
            return self.fallback_plan(idea, n, fault.cause)
        except InputError:
            raise
        except Exception as exc:  # a fault must never stop the animation; the trace goes to the debug log
            log.debug("plan backend %s failed", self.name, exc_info=True)
            detail = f": {first_line(exc)}" if str(exc).strip() else ""
            return self.fallback_plan(idea, n, f"unexpected {type(exc).__name__}{detail}")
        plan = normalize_reply(reply, idea, n, backend=self.name)
        plan.model = self.model_label
        plan.warnings = [redact(w, self.secrets) for w in plan.warnings]
        return plan


class UnavailablePlanner(LLMPlanner):
    """Stands in for a backend that cannot run (missing key/package) when the user asked for fallback."""

    def __init__(self, settings: PlannerSettings, reason: InputError) -> None:
        super().__init__(settings)
        self.name = settings.backend
        self.reason = reason

    def plan(self, idea: str, n: int) -> Plan:
        return self.fallback_plan(clean_idea(idea), check_frame_count(n), self.reason.problem)
