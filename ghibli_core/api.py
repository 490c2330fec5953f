"""The engine's public API for front ends that host it (the ComfyUI pack, and any other host): everything a host
needs, in one place, so the engine's modules can move without breaking it. The pack imports from here only (tested).

    from ghibli_core.api import AnimationJob, render_job, finish, Outputs, HeldPipelines, ModelSettings
"""
from __future__ import annotations

from . import __version__, defaults
from .animate import MAX_SEED, SEED_POLICIES, AnimationSettings
from .blend import BLEND_METHODS, COLOR_MODES, FLOW_METHODS, MAX_CADENCE, MAX_INTERPOLATE, MotionSettings, blend_frames
from .camera import AXES, MOVES, CameraSettings, Move, inverse_depth_to_z, move_still
from .camera.moves import STRENGTH_RANGE
from .camera.path import DEFAULT_FAR, DEFAULT_FOV, DEFAULT_NEAR
from .camera.schedule import Schedule
from .device import DEVICES, DTYPES, work_device
from .errors import Cancelled, InputError, InputErrors, ModelNotFoundError, every_problem
from .export import FPS_RANGE, write_webp
from .files import file_identity
from .finish import Outputs, finish
from .job import AnimationJob, Rendered, render_job
from .models.depth import HeldDepth
from .models.edges import EDGE_KINDS, EdgeControl
from .models.holder import HELD, release_models, weights_bytes
from .models.lora import WEIGHT_RANGE, LoraSpec
from .models.pipelines import HeldPipelines, ModelSettings
from .models.sources import ModelSource
from .models.speed import COMPILE_MODES
from .painter import SCHEDULERS, Progress
from .per_frame import number_or_schedule
from .plan import BACKENDS, PlannerSettings, clean_idea, make_plan, parse_plan_text
from .plan.base import MAX_FRAMES
from .presets import DEFAULT_PRESET, PRESETS
from .registry import SETTINGS
from .schedule import default_fps, denoising_steps
from .audio_features import FEATURES as AUDIO_FEATURES, AudioFeatures
from .music import MusicSettings
from .sound import FIT_MODES, Sound, fit_sound
from .video import ClipSettings, InMemoryClip
from .video.job import VideoJob, VideoResult, run_video_job
from .video.repaint import KeyframeSettings

__all__ = [
    "AXES", "AnimationJob", "AnimationSettings", "BACKENDS", "BLEND_METHODS", "COLOR_MODES", "COMPILE_MODES", "Cancelled",
    "ClipSettings", "InMemoryClip", "KeyframeSettings", "Sound", "VideoJob", "VideoResult", "run_video_job",
    "AUDIO_FEATURES", "AudioFeatures", "FIT_MODES", "MusicSettings", "fit_sound",
    "CameraSettings", "DEFAULT_FAR", "DEFAULT_FOV", "DEFAULT_NEAR", "DEFAULT_PRESET", "DEVICES", "DTYPES", "EDGE_KINDS", "EdgeControl", "FLOW_METHODS",
    "FPS_RANGE", "HELD", "HeldDepth", "HeldPipelines", "InputError", "InputErrors", "every_problem", "LoraSpec", "MAX_CADENCE", "MAX_FRAMES", "MAX_INTERPOLATE", "MAX_SEED",
    "MOVES", "ModelNotFoundError", "ModelSettings", "ModelSource", "MotionSettings", "Move", "Outputs", "PRESETS", "PlannerSettings",
    "Progress", "Rendered", "SCHEDULERS", "SEED_POLICIES", "SETTINGS", "STRENGTH_RANGE", "Schedule", "WEIGHT_RANGE", "__version__",
    "blend_frames", "clean_idea", "default_fps", "defaults", "denoising_steps", "file_identity", "finish",
    "inverse_depth_to_z", "make_plan", "move_still", "number_or_schedule", "parse_plan_text", "release_models",
    "render_job", "weights_bytes", "work_device", "write_webp",
]
