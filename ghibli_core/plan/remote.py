"""Chat backends over HTTP: Hugging Face Inference (huggingface_hub) and any OpenAI-compatible server (openai SDK).

Both SDKs' own retries are off (`max_retries=0`, and huggingface_hub has none for inference) so one
policy (`faults.call_with_retries`) governs every backend: the same Retry-After handling, the same
bound on waiting, the same wording of faults.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from .faults import PlanFault, connection_cause, status_fault
from .llm import LLMPlanner, safe_url


def _first_content(response: Any) -> str:
    """The first choice's text from a chat-completion response object; a fault if there is none."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, (list, tuple)):
        raise PlanFault("invalid reply body (no `choices` list)")
    if not choices:
        raise PlanFault("the reply had no choices")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if isinstance(content, list):  # content parts, as some servers send them
        content = "".join(p.get("text", "") if isinstance(p, dict) else str(getattr(p, "text", "")) for p in content)
    if not isinstance(content, str) or not content.strip():
        reason = getattr(choices[0], "finish_reason", None)
        raise PlanFault("the reply was empty" + (f" (finish_reason {reason})" if reason else ""))
    return content


class OpenAIPlanner(LLMPlanner):
    """Any OpenAI-compatible chat server: OpenAI itself, Ollama, vLLM, LM Studio, llama.cpp's server..."""

    name = "openai"
    key_env = "OPENAI_API_KEY"
    #: Sent to self-hosted servers when no key is set; they ignore it, the SDK insists on one.
    NO_KEY = "not-needed"

    def check(self) -> None:
        try:
            import openai  # noqa: F401
        except ImportError as exc:
            raise InputError("backend", "the openai backend needs the openai package", "pip install openai") from exc
        key = os.environ.get(self.key_env, "").strip()
        base_url = self.settings.base_url or os.environ.get("OPENAI_BASE_URL")
        if not key and not base_url:
            raise InputError(
                "backend", f"the openai backend needs an API key and {self.key_env} is not set",
                f"export {self.key_env}=..., or pass --base-url for a local server (Ollama, vLLM, LM Studio), "
                "or --plan-fallback to plan offline",
            )
        self._key = key or self.NO_KEY
        self._secrets = [key] if key else []

    def complete(self, messages: list[dict[str, str]], max_tokens: int, schema: dict | None = None) -> str:
        import openai

        s = self.settings
        client = openai.OpenAI(api_key=self._key, base_url=s.base_url, timeout=s.timeout, max_retries=0)
        try:
            response = client.chat.completions.create(
                model=self.model, messages=messages, temperature=s.temperature, max_tokens=max_tokens,
                **({"seed": s.seed} if s.seed is not None else {}), **({"response_format": schema} if schema else {}),
            )
        except openai.APITimeoutError as exc:
            raise PlanFault(f"timed out after {s.timeout:g} s") from exc
        except openai.APIConnectionError as exc:
            raise PlanFault(connection_cause(exc)) from exc
        except openai.APIStatusError as exc:
            raise status_fault(exc.status_code, exc.response.headers, exc.response.text, self.key_env) from exc
        except openai.APIResponseValidationError as exc:
            raise PlanFault("invalid reply body") from exc
        except ValueError as exc:  # a 200 whose body is not JSON
            raise PlanFault("invalid reply body (not JSON)") from exc
        finally:
            client.close()
        if isinstance(response, (str, bytes)):  # the SDK hands back a non-JSON body as text
            raise PlanFault("invalid reply body (not JSON)")
        return _first_content(response)


class HFPlanner(LLMPlanner):
    """Hugging Face Inference Providers through `InferenceClient.chat_completion` (or a TGI/Endpoint URL)."""

    name = "hf"
    key_env = "HF_TOKEN"

    def check(self) -> None:
        from huggingface_hub import constants, get_token

        if constants.HF_HUB_OFFLINE:  # the hub client refuses every request then, inference included
            raise InputError("backend", "the hf backend needs the network but HF_HUB_OFFLINE=1 is set",
                             "unset HF_HUB_OFFLINE, or use --backend offline or transformers")
        token = get_token()
        if not token and not self.settings.base_url:
            raise InputError(
                "backend", f"the hf backend needs a Hugging Face token and {self.key_env} is not set",
                f"export {self.key_env}=hf_... (https://huggingface.co/settings/tokens) or run `hf auth login`, "
                "or pass --base-url for your own endpoint, or --plan-fallback to plan offline",
            )
        self._token = token
        self._secrets = [token] if token else []

    def complete(self, messages: list[dict[str, str]], max_tokens: int, schema: dict | None = None) -> str:
        from huggingface_hub import InferenceClient, InferenceTimeoutError
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

        s = self.settings
        if s.base_url:  # a router-compatible server: the model goes in the payload
            client = InferenceClient(base_url=s.base_url, token=self._token, timeout=s.timeout)
        else:
            client = InferenceClient(provider=s.provider or "auto", token=self._token, timeout=s.timeout)
        try:
            response = client.chat_completion(
                messages, model=self.model, temperature=s.temperature, max_tokens=max_tokens, seed=s.seed,
                **({"response_format": schema} if schema else {}),
            )
        except InferenceTimeoutError as exc:
            raise PlanFault(f"timed out after {s.timeout:g} s") from exc
        except OfflineModeIsEnabled as exc:
            raise PlanFault("HF_HUB_OFFLINE=1 blocks the request") from exc
        except HfHubHTTPError as exc:
            response_ = exc.response
            raise status_fault(response_.status_code, response_.headers, _body(response_), self.key_env) from exc
        except _TRANSPORT_TIMEOUTS as exc:
            raise PlanFault(f"timed out after {s.timeout:g} s") from exc
        except _TRANSPORT_ERRORS as exc:
            raise PlanFault(connection_cause(exc)) from exc
        except ValueError as exc:  # json.JSONDecodeError and the hub's parse errors
            raise PlanFault("invalid reply body (not JSON)") from exc
        except (KeyError, TypeError) as exc:
            raise PlanFault("invalid reply body (not a chat completion)") from exc
        return _first_content(response)


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Timeout and connection error classes of the HTTP library huggingface_hub uses (it changed across majors)."""
    timeouts: list[type[BaseException]] = []
    transport: list[type[BaseException]] = [ConnectionError]
    for name, timeout_attr, transport_attr in (("httpx2", "TimeoutException", "TransportError"),
                                               ("httpx", "TimeoutException", "TransportError"),
                                               ("requests", "Timeout", "ConnectionError")):
        try:
            module = __import__(name)
        except ImportError:
            continue
        timeouts.append(getattr(module, timeout_attr))
        transport.append(getattr(module, transport_attr))
    return tuple(timeouts), tuple(transport)


_TRANSPORT_TIMEOUTS, _TRANSPORT_ERRORS = _transport_errors()


def _body(response: Any) -> str:
    try:
        return response.text
    except Exception:  # a streamed response whose body was never read
        try:
            return response.read().decode("utf-8", "replace")
        except Exception:
            return ""


__all__ = ["HFPlanner", "OpenAIPlanner", "safe_url"]
