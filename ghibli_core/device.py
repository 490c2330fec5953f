"""Choosing where and in which precision models run."""
from __future__ import annotations

import torch

from .errors import InputError, check_choice

from .registry import DEVICES  # noqa: E402 - the one definition
DTYPES = {"auto": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then mps, then cpu; an explicit device must be available."""
    base = name.split(":", 1)[0]
    if base not in DEVICES:
        raise InputError("device", f"unknown device {name!r}", f"use one of {', '.join(DEVICES)}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise InputError("device", "cuda was asked for but no CUDA GPU is visible", "use --device cpu or auto")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device", "mps was asked for but is not available", "use --device cpu or auto")
    return torch.device(name)


def work_device(painting_device: torch.device | str | None) -> torch.device | str | None:
    """Where a run's own work around the models (camera warps, colour matching, sharpening, grain) runs: on its painting
    device when that is an accelerator (the torch paths: camera/warp_torch.py, coherence_torch.py), else None: the
    OpenCV/NumPy paths, the faster ones on the CPU (measured: docs/performance.md)."""
    kind = str(getattr(painting_device, "type", painting_device or "cpu")).split(":")[0]
    return None if kind == "cpu" else painting_device


def cpu_has_bf16() -> bool:
    """The CPU does bf16 matrix maths in hardware (AMX tiles or AVX512-BF16), as PyTorch's own probes report."""
    import torch.cpu

    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:
            continue
    return False


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` is fp16 on a GPU; on the CPU, bf16 where the CPU has bf16 hardware (measured 2.1x faster per SD1.5
    frame than fp32 on AMX), else fp32 (fp16 convolutions are slow or missing on CPUs)."""
    check_choice("dtype", name, DTYPES, "dtype")
    if name == "auto":
        if device.type in ("cuda", "mps"):
            return torch.float16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return DTYPES[name]


def dtype_note(name: str, device: torch.device, dtype: torch.dtype) -> str:
    """How the dtype was chosen, for a log line: `bf16 (auto: this CPU has bf16 hardware; --dtype fp32 for full precision)`."""
    label = {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}.get(dtype, str(dtype))
    if name == "auto" and device.type == "cpu" and dtype == torch.bfloat16:
        return f"{label} (auto: this CPU has bf16 hardware; --dtype fp32 for full precision)"
    return label


def peak_memory_mb(device: torch.device | None = None) -> float:
    """Peak memory of this process so far: allocated GPU memory on CUDA, resident set size on the CPU."""
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import sys

    try:
        import resource
    except ImportError:  # Windows: the peak working set, where psutil is installed (ComfyUI has it)
        try:
            import psutil

            return psutil.Process().memory_info().peak_wset / 2**20
        except (ImportError, AttributeError):
            return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
