"""Reusing work across denoising steps: what the presets trade for speed.

    cache_interval   DeepCache-style feature caching: the UNet's outer level (conv_in, the first down block, the last
                     up block) runs every step; the deep blocks (the other down blocks, the mid block, the other up
                     blocks) run every N-th step, and their outputs are reused in between. On cached steps the
                     ControlNet's residuals from the last full step are reused too.
    controlnet_end   the ControlNet runs for this first fraction of the steps and is then not called at all (its
                     residuals are left out, where diffusers' `control_guidance_end` would still run it at scale 0).
    cfg_end          classifier-free guidance for this first fraction of the steps, then one conditional batch (as
                     diffusers' `SDCFGCutoffCallback`, and the ControlNet pipeline's doubled control image halved too).

Each works through the libraries' APIs for one pipeline call: the pipeline's own step callback, and stand-ins put in
the UNet's block lists and in the pipeline's `controlnet` slot (shallow copies of the real modules that share every
weight, so hooks on the real modules count the calls that really ran), restored when the call ends. With every value
at its default nothing is installed: the frames are bit-identical to a run without this module.
"""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..errors import check_range

_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
               "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks",
               "_load_state_dict_pre_hooks")


@dataclass(frozen=True)
class StepReuse:
    """How much work a pipeline call may reuse across its steps (the defaults reuse nothing)."""

    cache_interval: int = 1
    controlnet_end: float = 1.0
    cfg_end: float = 1.0

    def __post_init__(self) -> None:
        check_range("cache-interval", self.cache_interval, 1, 10, integer=True)
        check_range("controlnet-end", self.controlnet_end, 0.0, 1.0, lo_open=True)
        check_range("cfg-end", self.cfg_end, 0.0, 1.0, lo_open=True)

    @property
    def active(self) -> bool:
        return self.cache_interval > 1 or self.controlnet_end < 1 or self.cfg_end < 1

    def counts(self, steps: int) -> dict[str, int]:
        """Of `steps` denoising steps: how many run the deep UNet blocks, the ControlNet, and guidance."""
        full = len([i for i in range(steps) if i % self.cache_interval == 0])
        controlnet_steps = _share(self.controlnet_end, steps)
        controlnet = len([i for i in range(controlnet_steps) if i % self.cache_interval == 0])
        return {"deep_unet": full, "controlnet": controlnet, "cfg": _share(self.cfg_end, steps)}


def _share(fraction: float, steps: int) -> int:
    """Steps in the first `fraction` of `steps` (at least one)."""
    return max(1, min(steps, math.ceil(fraction * steps - 1e-9)))


def _stand_in(module: torch.nn.Module, forward: Callable[..., Any]) -> torch.nn.Module:
    """A shallow copy of `module` (same weights, same submodules) with its own `forward` and no hooks."""
    proxy = copy.copy(module)
    for name in _HOOK_DICTS:
        if hasattr(module, name):
            object.__setattr__(proxy, name, OrderedDict())
    # a module compiled in place (`Module.compile`) calls its compiled `_call_impl`, which is bound to the original:
    # the stand-in must call its own (the original, called from `forward`, still runs compiled)
    object.__setattr__(proxy, "_compiled_call_impl", None)
    object.__setattr__(proxy, "forward", forward)
    return proxy


def _shell(module: torch.nn.Module, lists: tuple[str, ...]) -> torch.nn.Module:
    """A shallow copy of `module` (same weights, same hooks) whose child table and the named ModuleLists are its own, so
    children can be swapped in the copy alone."""
    shell = copy.copy(module)
    children = OrderedDict(module._modules)
    for name in lists:
        children[name] = torch.nn.ModuleList(list(module._modules[name]))
    object.__setattr__(shell, "_modules", children)
    return shell


def _take_batch(value: Any, batch: int) -> Any:
    """`value` (a tensor, or tuples/lists of them) cut to its last `batch` rows: the conditional half once guidance
    stops (diffusers batches [unconditional, conditional])."""
    if isinstance(value, torch.Tensor):
        return value if value.shape[0] == batch else value[-batch:]
    if isinstance(value, (tuple, list)):
        return type(value)(_take_batch(v, batch) for v in value)
    return value


def _batch_of(args: tuple, kwargs: dict) -> int:
    hidden = kwargs.get("hidden_states", args[0] if args else None)
    if hidden is None:
        hidden = kwargs.get("sample")
    return int(hidden.shape[0])


@dataclass
class ReuseRun:
    """One pipeline call under a StepReuse: install with `with`, and call `after_step` from the step callback."""

    pipe: Any
    reuse: StepReuse
    steps: int
    step: int = 0
    cache: dict = field(default_factory=dict)
    _restore: list = field(default_factory=list)

    @property
    def full_step(self) -> bool:
        return self.step % self.reuse.cache_interval == 0

    def tensor_inputs(self) -> list[str]:
        """What the step callback must receive to stop guidance (`callback_on_step_end_tensor_inputs`)."""
        names = ["latents"]
        if self.reuse.cfg_end < 1:
            names += [n for n in ("prompt_embeds", "control_image") if n in getattr(self.pipe, "_callback_tensor_inputs", ())]
        return names

    def __enter__(self) -> "ReuseRun":
        if self.reuse.cache_interval > 1:
            # the pipeline gets a shell of the UNet with its own block lists holding the stand-ins: the shared UNet (and
            # every other run painting with it) never sees them
            unet = self.pipe.unet
            shell = _shell(unet, ("down_blocks", "up_blocks"))
            for blocks, kind in ((shell.down_blocks, "down"), (shell.up_blocks, "up")):
                deep = range(1, len(blocks)) if kind == "down" else range(len(blocks) - 1)
                for i in deep:
                    blocks[i] = _stand_in(blocks[i], self._cached(blocks[i], f"{kind}{i}"))
            if unet.mid_block is not None:
                shell._modules["mid_block"] = _stand_in(unet.mid_block, self._cached(unet.mid_block, "mid"))
            self.pipe.unet = shell
            self._restore.append(lambda: setattr(self.pipe, "unet", unet))
        controlnet = getattr(self.pipe, "controlnet", None)
        if controlnet is not None and (self.reuse.cache_interval > 1 or self.reuse.controlnet_end < 1):
            last = _share(self.reuse.controlnet_end, self.steps)
            self.pipe.controlnet = _stand_in(controlnet, self._gated_controlnet(controlnet, last))
            self._restore.append(lambda: setattr(self.pipe, "controlnet", controlnet))
        return self

    def __exit__(self, *exc: Any) -> None:
        for undo in reversed(self._restore):
            undo()
        self._restore.clear()
        self.cache.clear()

    def _cached(self, module: torch.nn.Module, key: str) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            if self.full_step or key not in self.cache:
                self.cache[key] = module(*args, **kwargs)
                return self.cache[key]
            return _take_batch(self.cache[key], _batch_of(args, kwargs))

        return forward

    def _gated_controlnet(self, controlnet: torch.nn.Module, last: int) -> Callable[..., Any]:
        def forward(sample: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if self.step >= last:
                return None, None  # the UNet then adds no residuals: the ControlNet's forward is not run at all
            if not self.full_step and "controlnet" in self.cache:
                return _take_batch(self.cache["controlnet"], sample.shape[0])
            cond, n = kwargs.get("controlnet_cond"), sample.shape[0]
            if isinstance(cond, torch.Tensor) and cond.shape[0] != n:
                kwargs["controlnet_cond"] = cond[-n:]  # guidance stopped: one control image
            elif isinstance(cond, list):  # a MultiControlNet: one image per net
                kwargs["controlnet_cond"] = [c[-n:] if c.shape[0] != n else c for c in cond]
            out = controlnet(sample, *args, **kwargs)
            self.cache["controlnet"] = out
            return out

        return forward

    def after_step(self, pipe: Any, step: int, kwargs: dict) -> dict:
        """From the pipeline's step callback: advance the clock; when guidance ends, keep the conditional half."""
        self.step = step + 1
        if self.reuse.cfg_end < 1 and self.step == _share(self.reuse.cfg_end, self.steps) and self.step < self.steps \
                and pipe.do_classifier_free_guidance:
            pipe._guidance_scale = 1.0  # what diffusers' SDCFGCutoffCallback does: no guidance from here on
            for name in ("prompt_embeds", "control_image"):
                value = kwargs.get(name)
                if isinstance(value, torch.Tensor) and value.shape[0] % 2 == 0:
                    kwargs[name] = value.chunk(2)[1]
                elif isinstance(value, list):  # a MultiControlNet's images
                    kwargs[name] = [v.chunk(2)[1] if v.shape[0] % 2 == 0 else v for v in value]
        return kwargs

