"""Camera settings (a named move and/or per-axis schedules, lens, depth range) and the path they give over N frames."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, check_range
from .geometry import AXES, Intrinsics, relative, step_matrix
from .moves import Move, move_axes
from .schedule import Schedule

from ..defaults import CAMERA_FAR as DEFAULT_FAR, CAMERA_FOV as DEFAULT_FOV, CAMERA_NEAR as DEFAULT_NEAR  # noqa: E402


@dataclass(frozen=True)
class CameraSettings:
    """How the camera moves: `move` (`push-in`, `pan-left:0.5`, ...) and/or per-axis increment schedules (Deforum's
    meaning: frame k's view is frame k-1's view moved by the schedule's value at k). An axis given explicitly replaces
    the move's value on that axis. `fov` is horizontal, in degrees; `near`/`far` map a relative depth map to scene
    depth (translations are in those units).

    `beats` (a plan's moves, one per frame) replace `move`: beat k carries the camera from frame k to frame k+1 by
    the amount its move takes at that step when done over the whole animation, so a beat of `push-in` repeated over
    every frame is exactly the `push-in` move, and `push-in` for half the beats then `pull-back` returns home.
    `move=None` names no move of its own (a lens, depth range and any axes): a plan's moves may direct it."""

    move: Move | str | None = "static"
    beats: tuple[Move | str, ...] = ()
    translation_x: str | float | None = None
    translation_y: str | float | None = None
    translation_z: str | float | None = None
    rotation_x: str | float | None = None
    rotation_y: str | float | None = None
    rotation_z: str | float | None = None
    fov: float = DEFAULT_FOV
    near: float = DEFAULT_NEAR
    far: float = DEFAULT_FAR
    #: a soundtrack's features per planned frame: axis schedules may then use amplitude(t), onset(t), beat(t)
    audio_features: Any = field(default=None, repr=False, compare=False)
    _schedules: dict = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        move = self.move if isinstance(self.move, Move) or self.move is None else Move.parse(self.move)
        object.__setattr__(self, "move", move)
        if isinstance(self.fov, bool) or not isinstance(self.fov, (int, float)) or not math.isfinite(self.fov) or not 1 < self.fov < 179:
            raise InputError("fov", f"{self.fov!r} degrees is out of range", "use a horizontal field of view in (1, 179), e.g. 40")
        check_range("near", self.near, 0.0, 1e6, lo_open=True)
        check_range("far", self.far, 0.0, 1e6, lo_open=True)
        if self.near >= self.far:
            raise InputError("near", f"near {self.near:g} is not closer than far {self.far:g}", "give near < far, e.g. --near 1 --far 10")
        beats = tuple(b if isinstance(b, Move) else Move.parse(b) for b in self.beats)
        if beats and move is not None and move.name != "static":
            raise InputError("camera", f"both a move ({move}) and per-beat moves were given", "give one or the other")
        object.__setattr__(self, "beats", beats)
        schedules = {}
        for axis in AXES:
            explicit = getattr(self, axis)
            text = explicit if explicit is not None else self._move_axes(move).get(axis, "0")
            schedules[axis] = Schedule.parse(text, axis.replace("_", "-"), audio=self.audio_features)
        object.__setattr__(self, "_schedules", schedules)

    def _move_axes(self, move: Move | None) -> dict[str, str]:
        move = move or Move()
        return move_axes(move.name, move.strength, fov=self.fov, near=self.near, far=self.far)

    @property
    def directs(self) -> bool:
        """The settings say how the camera moves (a move, even `static`, an axis schedule or beats), so a plan's moves
        do not apply."""
        return self.move is not None or bool(self.beats) or any(getattr(self, a) is not None for a in AXES)

    def with_beats(self, moves: "list[Move] | tuple[Move, ...]") -> "CameraSettings":
        """These settings (their lens, depth range and axes) moved by a plan's beats."""
        return dataclasses.replace(self, move=None, beats=tuple(moves))

    def replace(self, **changes: Any) -> "CameraSettings":
        return dataclasses.replace(self, **changes)

    @property
    def schedules(self) -> dict[str, Schedule]:
        return dict(self._schedules)

    def path(self, frames: int) -> "CameraPath":
        """The camera's pose at every frame (every schedule evaluated now: a value that fails, fails here)."""
        check_range("frames", frames, 1, 100_000, integer=True)
        increments = np.zeros((frames, 6))
        for j, axis in enumerate(AXES):
            series = self._schedules[axis].series(frames)
            increments[1:, j] = series[1:]  # frame 0 is where the camera starts
        if self.beats:
            if len(self.beats) != frames:
                raise InputError("camera", f"{len(self.beats)} beat moves for {frames} frames", "give one move per frame")
            per_move = {m: self._move_axes(m) for m in set(self.beats)}
            for j, axis in enumerate(AXES):
                if getattr(self, axis) is not None:
                    continue  # an explicit axis wins over the beats
                series = {m: Schedule.parse(texts.get(axis, "0"), axis).series(frames) for m, texts in per_move.items()}
                for k in range(1, frames):
                    increments[k, j] = series[self.beats[k - 1]][k]
        return CameraPath(increments, self.fov, self.near, self.far)

    def is_static(self, frames: int) -> bool:
        return not np.any(self.path(frames).increments)

    def describe(self) -> str:
        """In words for a log line: `push-in`, `push-in x4, pull-back x4`, `sway, rotation_y 0:(0), 7:(2)`, `still`."""
        parts = []
        if self.beats:
            runs: list[list] = []
            for beat in self.beats:
                if runs and runs[-1][0] == beat:
                    runs[-1][1] += 1
                else:
                    runs.append([beat, 1])
            parts.append(", ".join(f"{b} x{k}" if k > 1 else str(b) for b, k in runs))
        elif self.move is not None and self.move.name != "static":
            parts.append(str(self.move))
        parts += [f"{a} {self._schedules[a]}" for a in AXES if getattr(self, a) is not None]
        return ", ".join(parts) or "still"

    def to_dict(self) -> dict[str, Any]:
        beats = {"beats": [str(b) for b in self.beats]} if self.beats else {}
        return {"move": None if self.move is None else str(self.move), **beats, **{axis: s.describe() for axis, s in self._schedules.items()},
                "explicit_axes": [a for a in AXES if getattr(self, a) is not None],
                "fov": self.fov, "near": self.near, "far": self.far}


def directed_camera(camera: CameraSettings | None, beats: "list[Move] | tuple[Move, ...]") -> CameraSettings | None:
    """The camera a render uses: `camera` when it names a move or schedules (even `static`: an explicit camera wins
    over the plan); else the plan's `beats` with `camera`'s lens and depth range; None when nothing moves it."""
    if camera is not None and camera.directs:
        return camera
    if any(b.name != "static" and b.strength > 0 for b in beats):
        return (camera or CameraSettings(move=None)).with_beats(beats)
    return None


@dataclass(frozen=True)
class CameraPath:
    """Per-frame increments (N x 6, in AXES order; row 0 is zero) and the poses they give: `poses[k]` is frame k's
    camera in frame 0's axes (4x4, camera to world)."""

    increments: np.ndarray
    fov: float = DEFAULT_FOV
    near: float = DEFAULT_NEAR
    far: float = DEFAULT_FAR
    poses: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        poses = [np.eye(4)]
        for row in self.increments[1:]:
            poses.append(poses[-1] @ step_matrix(*row))
        object.__setattr__(self, "poses", np.stack(poses))

    def __len__(self) -> int:
        return len(self.increments)

    def intrinsics(self, width: int, height: int) -> Intrinsics:
        return Intrinsics(width, height, self.fov)

    def pose_at(self, s: float) -> np.ndarray:
        """The pose at a fractional frame (s in [0, N-1]): part of the next frame's increment (the loop seam past the
        last frame is `inbetween.CameraTimeline`'s)."""
        k = min(int(math.floor(s)), len(self) - 1)
        frac = s - k
        if frac <= 1e-9 or k + 1 >= len(self):
            return self.poses[k]
        return self.poses[k] @ step_matrix(*(frac * self.increments[k + 1]))

    def step(self, a: float, b: float) -> np.ndarray:
        """Camera at (fractional) frame b in the axes of the camera at frame a."""
        return relative(self.pose_at(a), self.pose_at(b))

    def is_static(self) -> bool:
        return not np.any(self.increments)

    def closes(self, tol: float = 1e-6) -> bool:
        """The last pose is the first: the path is a loop."""
        return bool(np.allclose(self.poses[-1], self.poses[0], atol=tol * max(1.0, self.near)))

    def to_list(self) -> list[list[float]]:
        """Every frame's pose as [tx, ty, tz, rx, ry, rz] in frame 0's axes (user axes: y up; degrees)."""
        out = []
        for pose in self.poses:
            rot, t = pose[:3, :3], pose[:3, 3]
            # back from R = Ry(yaw) Rx(pitch) Rz(roll)
            pitch = math.degrees(math.asin(max(-1.0, min(1.0, -rot[1, 2]))))
            yaw = math.degrees(math.atan2(rot[0, 2], rot[2, 2]))
            roll = math.degrees(math.atan2(rot[1, 0], rot[1, 1]))
            out.append([round(float(v), 6) + 0.0 for v in (t[0], -t[1], t[2], pitch, yaw, roll)])  # + 0.0: no -0.0
        return out
