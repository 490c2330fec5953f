"""A local chat model through transformers' text-generation pipeline and the model's own chat template."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError, first_line
from .faults import PlanFault
from .llm import LLMPlanner


def load_chat_pipeline(location: str, device: str, allow_pickle: bool = False):
    """A text-generation pipeline, loaded now (safetensors weights only unless `allow_pickle`); nothing is kept."""
    from transformers import pipeline

    from ..device import resolve_device, resolve_dtype
    from ..models.sources import safe_load_kwargs

    dev = resolve_device(device)
    return pipeline("text-generation", model=location, device=dev, dtype=resolve_dtype("auto", dev),
                    model_kwargs=safe_load_kwargs(allow_pickle))


def held_chat_pipeline(location: str, device: str, allow_pickle: bool = False):
    """The chat pipeline in the engine's holder, once per (model, device), until `release_models()`."""
    from ..device import resolve_device
    from ..models.holder import HELD

    dev = resolve_device(device)
    return HELD.get(("chat", location, str(dev), allow_pickle), lambda: load_chat_pipeline(location, device, allow_pickle),
                    label=f"chat: {Path(location).name} ({dev})")


class TransformersPlanner(LLMPlanner):
    """Runs the planner model on this machine: no key, no network once the model is cached."""

    name = "transformers"

    def check(self) -> None:
        from ..models.sources import resolve_source

        try:
            import transformers  # noqa: F401
        except ImportError as exc:  # pragma: no cover - transformers is a core dependency
            raise InputError("backend", "the transformers backend needs transformers", "pip install transformers") from exc
        self._source = resolve_source(self.model, "chat", "plan-model", allow_pickle=self.settings.allow_pickle)
        from ..device import resolve_device

        resolve_device(self.settings.device)

    @property
    def model_label(self) -> str | None:
        return self._source.name  # a folder's name, never a home path

    def complete(self, messages: list[dict[str, str]], max_tokens: int, schema: dict | None = None) -> str:
        # a local pipeline has no constrained decoding here: the prompt asks for the shape, the normaliser reads any
        import transformers

        try:
            generator = held_chat_pipeline(self._source.location, self.settings.device, self.settings.allow_pickle)
        except (OSError, ValueError) as exc:
            raise PlanFault(f"could not load the model ({type(exc).__name__}: {first_line(exc, 120)})") from exc
        if not getattr(generator.tokenizer, "chat_template", None):
            raise PlanFault("the model's tokenizer has no chat template (use an instruct/chat model)")
        s = self.settings
        if s.seed is not None:
            transformers.set_seed(s.seed)
        sampling = {"do_sample": True, "temperature": s.temperature} if s.temperature > 0 else {"do_sample": False}
        out = generator(
            messages, max_new_tokens=max_tokens, return_full_text=False, max_time=s.timeout,
            pad_token_id=generator.tokenizer.pad_token_id or generator.tokenizer.eos_token_id, **sampling,
        )
        text = out[0]["generated_text"] if out else ""
        if isinstance(text, list):  # some versions return the whole chat; the reply is the last message
            text = text[-1].get("content", "") if text else ""
        if not isinstance(text, str) or not text.strip():
            raise PlanFault("the model generated no text")
        return text
