"""A user's clip repainted in the Ghibli style: reading it (clip.py) ... (the repaint builds on the painter, the chain
state and the finishing step)."""
from __future__ import annotations

from .clip import ClipFrame, ClipInfo, ClipSettings, InMemoryClip, probe, read_clip

__all__ = ["ClipFrame", "ClipInfo", "ClipSettings", "InMemoryClip", "probe", "read_clip"]
