"""`ghibli-anim audio-keys FILE --fps F --frames N`: a soundtrack as Deforum-style keyframe strings, one per feature."""
from __future__ import annotations

import argparse
import json
from typing import Sequence

from .common import Parser, PROG

EXAMPLES = f"""
examples:
  {PROG} audio-keys song.mp3 --fps 12 --frames 48
  {PROG} audio-keys song.mp3 --fps 12 --frames 48 --feature onset --scale 0.05 --offset 0.01   # a translation-z schedule
  {PROG} "a forest" --frames 48 --audio song.mp3 --translation-z "$({PROG} audio-keys song.mp3 --fps 16 --frames 48 --feature onset --scale 0.05 --quiet)" -o f.mp4

amplitude: RMS loudness per frame; onset: spectral flux (new sound appearing); beat: 1 on each beat, decaying over
the beat (the tempo from the onset envelope's autocorrelation). Each is 0..1 before --scale and --offset.
"""


def build_parser() -> argparse.ArgumentParser:
    from ..audio_features import FEATURES

    p = Parser(prog=f"{PROG} audio-keys", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Turn a soundtrack into keyframe strings that schedules take.")
    p.add_argument("audio", help="any file with sound (WAV, FLAC, MP3, OGG/Opus, M4A, a video's sound)")
    p.add_argument("--fps", type=float, required=True, help="the animation's frame rate")
    p.add_argument("--frames", type=int, required=True, help="how many frames the schedule covers")
    p.add_argument("--start", type=float, default=0.0, metavar="SEC", help="start this far into the file (default 0)")
    p.add_argument("--feature", choices=(*FEATURES, "all"), default="all", help="which feature (default all)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply each value (default 1)")
    p.add_argument("--offset", type=float, default=0.0, help="then add this (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON (tempo, beats, every series)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the keyframe string (one feature)")
    return p


def run_audio_keys(argv: Sequence[str]) -> int:
    from ..audio_features import FEATURES, AudioFeatures
    from ..errors import InputError, check_range
    from ..sound import read_sound

    args = build_parser().parse_args(argv)
    check_range("fps", args.fps, 0.1, 1000.0)
    check_range("frames", args.frames, 1, 100_000, integer=True)
    if args.quiet and args.feature == "all":
        raise InputError("quiet", "prints one feature's string", "add --feature amplitude|onset|beat")
    sound = read_sound(args.audio, start=args.start, duration=args.frames / args.fps)
    features = AudioFeatures.of(sound, args.fps, args.frames)
    chosen = FEATURES if args.feature == "all" else (args.feature,)
    if args.json:
        series = {name: features.series(name, args.scale, args.offset) for name in chosen}
        print(json.dumps({"tempo": features.tempo, "beats": list(features.beats), "fps": args.fps, **series}))
        return 0
    strings = {name: features.keyframes(name, args.scale, args.offset) for name in chosen}
    if args.quiet:
        print(strings[args.feature])
        return 0
    print(f"{sound.name}: {args.frames} frames at {args.fps:g} fps, tempo {features.tempo:.1f} BPM, {len(features.beats)} beats")
    for name, text in strings.items():
        print(f"{name}: {text}")
    return 0
