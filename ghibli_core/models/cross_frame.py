"""Cross-frame attention: a keyframe's self-attention also attends to a reference keyframe's (Rerender-A-Video's
"cross-frame constraint"; the idea of Text2Video-Zero's CrossFrameAttnProcessor, which diffusers now keeps under
`pipelines/deprecated`).

    xattn = CrossFrameAttention(pipes.img2img.unet)
    with xattn.painting():      # the first keyframe: its self-attention inputs are recorded, step by step
        painter.paint(first)
    with xattn.painting():      # every later one: each self-attention layer's keys and values also come from the
        painter.paint(later)    # reference's inputs at the same step, so textures and colours are shared, not invented
    xattn.reset()               # a scene cut: the next keyframe becomes the reference

The processor wraps each self-attention layer's own processor on the shared UNet (SDPA); it only acts while a session
is active *in the calling thread* (a context variable), so other runs on the same weights paint as before. Steps are
matched by how often each layer was called in the paint: two keyframes with the same schedule (steps, strength, step
reuse) call every layer at the same steps in the same order. The reference costs memory: one tensor per layer per
step (SD1.5, 512², fp16, guided: about 90 MB a step).
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import Counter
from typing import Any, Iterator

import torch

_ACTIVE: contextvars.ContextVar["CrossFrameAttention | None"] = contextvars.ContextVar("ghibli_cross_frame", default=None)
_INSTALL_LOCK = threading.Lock()


class CrossFrameProcessor:
    """A self-attention layer's processor: its own (`inner`) normally; within a session, the layer's keys and values
    also see the reference keyframe's inputs to this layer at this step."""

    def __init__(self, inner: Any, name: str) -> None:
        self.inner = inner
        self.name = name

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any, **kwargs: Any) -> Any:
        session = _ACTIVE.get()
        if session is None or encoder_hidden_states is not None or hidden_states.ndim != 3:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        context = session.context(self.name, hidden_states)
        return self.inner(attn, hidden_states, context, attention_mask, temb, *args, **kwargs)


def install(unet: Any) -> int:
    """Wrap every self-attention (`attn1`) processor of `unet` once; return how many layers carry one."""
    with _INSTALL_LOCK:
        processors = dict(unet.attn_processors)
        changed = False
        for name, proc in processors.items():
            if name.endswith("attn1.processor") and not isinstance(proc, CrossFrameProcessor):
                processors[name] = CrossFrameProcessor(proc, name)
                changed = True
        if changed:
            unet.set_attn_processor(processors)
        return sum(isinstance(p, CrossFrameProcessor) for p in unet.attn_processors.values())


class CrossFrameAttention:
    """One clip's cross-frame attention: the first keyframe painted in a session is the reference, the others attend
    to it, until `reset()`."""

    def __init__(self, unet: Any) -> None:
        self.layers = install(unet)
        self.store: dict[tuple[str, int], torch.Tensor] = {}
        self.recording = False
        self.calls: Counter[str] = Counter()
        self.attended = 0  # layer calls that saw the reference (tests and logs)

    @property
    def has_reference(self) -> bool:
        return bool(self.store)

    def reset(self) -> None:
        """Forget the reference: the next keyframe painted becomes it (a scene cut)."""
        self.store.clear()

    @contextlib.contextmanager
    def painting(self) -> Iterator[None]:
        """Paint one keyframe inside: recorded as the reference when there is none, else attending to it."""
        self.recording = not self.store
        self.calls.clear()
        token = _ACTIVE.set(self)
        try:
            yield
        except BaseException:
            if self.recording:  # half a reference is none
                self.store.clear()
            raise
        finally:
            _ACTIVE.reset(token)

    def context(self, layer: str, hidden_states: torch.Tensor) -> torch.Tensor | None:
        """What `layer`'s keys and values are computed from at this call: None (itself) while recording, else itself
        and the reference's input at the same step, side by side along the tokens."""
        key = (layer, self.calls[layer])
        self.calls[layer] += 1
        if self.recording:
            self.store[key] = hidden_states.detach()
            return None
        ref = self.store.get(key)
        if ref is None or ref.shape[1:] != hidden_states.shape[1:]:
            return None
        n = hidden_states.shape[0]
        if ref.shape[0] != n:  # guidance on in one and off in the other: the conditional half(s) at the end
            if ref.shape[0] < n:
                return None
            ref = ref[-n:]
        self.attended += 1
        return torch.cat([hidden_states, ref.to(hidden_states.dtype)], dim=1)
