"""Which stream of a media file is its picture or its sound: FFmpeg's own choice (`av_find_best_stream`, as its command
line picks), so a cover picture, a thumbnail track or a commentary track stored first is not taken for the clip."""
from __future__ import annotations

from typing import Any


def main_stream(container: Any, kind: str) -> Any:
    """The PyAV container's main "video" or "audio" stream with a decoder, or None when it has none (a song's cover
    picture is no video)."""
    import av

    usable = [s for s in getattr(container.streams, kind) if s.codec_context is not None
              and not (kind == "video" and s.disposition & av.stream.Disposition.attached_pic)]
    best = container.streams.best(kind)
    return best if best is not None and best in usable else (usable[0] if usable else None)
