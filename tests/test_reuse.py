"""Work reused across denoising steps (models/reuse.py) on the tiny models: off is bit-identical, on makes fewer
forward calls (counted with hooks on the real modules), the modules are restored after every call, and the values
reach the metadata from the CLI and batch rows."""
from __future__ import annotations

import numpy as np
import pytest

from ghibli_core import cli
from ghibli_core.animate import AnimationSettings, animate
from ghibli_core.batch import load_jobs
from ghibli_core.errors import InputError
from ghibli_core.export import read_metadata
from ghibli_core.models.reuse import ReuseRun, StepReuse
from ghibli_core.presets import PRESETS

PLAN = ["a mossy hill", "a mossy hill at noon", "a mossy hill at dusk"]
OFF = dict(cache_interval=1, controlnet_end=1.0, cfg_end=1.0)


def paint(pipes, **reuse):
    settings = AnimationSettings(frames=3, steps=8, strength=0.5, seed=4, width=64, height=64, color_coherence=0, noise=0, sharpen=0,
                                 **{**OFF, **reuse})
    return [np.asarray(f.image) for f in animate(pipes, PLAN, settings, progress=False)]


class DeepCalls:
    """Counts forward calls of the UNet's deepest up block (skipped on cached steps)."""

    def __init__(self, pipes):
        self.n = 0
        self.handle = pipes.txt2img.unet.up_blocks[0].register_forward_pre_hook(self._hook)

    def _hook(self, *_):
        self.n += 1


@pytest.fixture
def deep(pipes):
    counter = DeepCalls(pipes)
    yield counter
    counter.handle.remove()


def test_off_is_bit_identical_and_on_leaves_nothing_behind(pipes):
    unet, controlnet = pipes.txt2img.unet, pipes.img2img.controlnet
    blocks = list(unet.down_blocks) + list(unet.up_blocks) + [unet.mid_block]
    first = paint(pipes)
    reused = paint(pipes, cache_interval=3, controlnet_end=0.5, cfg_end=0.5)
    assert not all(np.array_equal(a, b) for a, b in zip(first, reused))  # reuse changes the picture a little...
    assert np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(first, reused)]) < 40  # ...not everything
    # every stand-in was taken out again: the same module objects, and an unchanged picture after
    assert list(unet.down_blocks) + list(unet.up_blocks) + [unet.mid_block] == blocks and pipes.img2img.controlnet is controlnet
    again = paint(pipes)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_each_setting_makes_fewer_forward_calls(pipes, recorder, deep):
    paint(pipes)
    base = (recorder.unet_calls, len(recorder.controls), deep.n, [t.shape[0] for t in recorder.texts])
    assert base[:3] == (8 + 4 + 4, 8, 16) and set(base[3]) == {2}

    def calls(**reuse):
        recorder.unet_calls, recorder.texts, recorder.controls, deep.n = 0, [], [], 0
        paint(pipes, **reuse)
        return recorder.unet_calls, len(recorder.controls), deep.n, [t.shape[0] for t in recorder.texts]

    # deep features every 2nd step: half the deep block calls; the ControlNet's residuals reused on cached steps
    assert calls(cache_interval=2)[:3] == (16, 4, 4 + 2 + 2)
    # the ControlNet for the first half of each img2img frame's 4 steps, then not called at all
    assert calls(controlnet_end=0.5)[:3] == (16, 2 + 2, 16)
    # guidance for the first half: one conditional batch from then on (txt2img and img2img)
    unet, control, _, batches = calls(cfg_end=0.5)
    assert (unet, control) == (16, 8) and batches == [2] * 4 + [1] * 4 + ([2] * 2 + [1] * 2) * 2
    # all together, with caching across the change of batch
    unet, control, deep_n, batches = calls(cache_interval=2, controlnet_end=0.5, cfg_end=0.5)
    assert unet == 16 and control == 2 and deep_n == 8 and batches.count(1) == 8
    assert StepReuse(2, 0.5, 0.5).counts(4) == {"deep_unet": 2, "controlnet": 1, "cfg": 2}


def test_a_stand_in_shares_every_weight_and_leaves_the_shared_modules_alone(pipes):
    from ghibli_core.painter import RunPipelines

    pipe = RunPipelines(pipes, "dpm++").img2img  # a run's own pipeline over the shared weights
    unet, controlnet = pipe.unet, pipe.controlnet
    assert unet is pipes.img2img.unet and controlnet is pipes.img2img.controlnet
    block, blocks = unet.up_blocks[0], list(unet.up_blocks) + list(unet.down_blocks) + [unet.mid_block]
    with ReuseRun(pipe, StepReuse(cache_interval=2, controlnet_end=0.5), steps=4):
        assert pipe.controlnet is not controlnet and isinstance(pipe.controlnet, type(controlnet))  # what the pipeline checks
        assert all(a is b for a, b in zip(pipe.controlnet.parameters(), controlnet.parameters()))
        shell = pipe.unet  # the run's UNet: its own block lists, the same weights
        assert shell is not unet and isinstance(shell, type(unet)) and shell.conv_in is unet.conv_in
        assert shell.up_blocks[0] is not block and shell.up_blocks[0].resnets is block.resnets  # what the UNet reads
        assert all(a is b for a, b in zip(shell.up_blocks[0].parameters(), block.parameters()))
        assert list(unet.up_blocks) + list(unet.down_blocks) + [unet.mid_block] == blocks  # the shared UNet is untouched
        assert pipes.img2img.controlnet is controlnet and pipes.img2img.unet is unet
    assert pipe.controlnet is controlnet and pipe.unet is unet


@pytest.mark.parametrize("kwargs,match", [
    (dict(cache_interval=0), "cache-interval"), (dict(cache_interval=11), "cache-interval"), (dict(cache_interval=1.5), "cache-interval"),
    (dict(controlnet_end=0.0), "controlnet-end"), (dict(controlnet_end=1.2), "controlnet-end"), (dict(cfg_end=-1.0), "cfg-end"),
])
def test_bad_reuse_values_are_refused(kwargs, match):
    with pytest.raises(InputError, match=f"^{match}:"):
        AnimationSettings(**kwargs)


def test_presets_set_the_reuse_and_the_metadata_keeps_it(tiny, tmp_path, jobs_files):
    assert PRESETS["quality"].animation().reuse == StepReuse()  # quality reuses nothing
    assert PRESETS["balanced"].animation().reuse.active and PRESETS["fast"].animation().reuse.active
    assert AnimationSettings().reuse == PRESETS["balanced"].animation().reuse  # one source of defaults
    out = tmp_path / "r.gif"
    assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a hill", "--frames", "2", "--steps", "4", "--quiet", "-o", str(out),
                     "--cache-interval", "3", "--controlnet-end", "0.25", "--cfg-end", "0.75"]) == 0
    s = read_metadata(out)["settings"]
    assert (s["cache_interval"], s["controlnet_end"], s["cfg_end"]) == (3, 0.25, 0.75)
    assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a hill", "-o", str(out), "--cfg-end", "0"]) == 2
    rows = [{"prompt": "a hill", "cache_interval": 2, "controlnet_end": 0.5}, {"prompt": "a lake", "preset": "quality"}]
    a, b = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", rows))
    assert a.animation().reuse == StepReuse(2, 0.5, PRESETS["balanced"].cfg_end) and b.animation().reuse == StepReuse()


def test_a_stand_in_runs_its_own_forward_even_for_a_module_compiled_in_place():
    import torch

    from ghibli_core.models.reuse import _stand_in

    real = torch.nn.Linear(2, 2)
    calls = []
    real.register_forward_pre_hook(lambda *_: calls.append(1))
    real.compile()  # lazy: nothing is compiled until the real module is called
    proxy = _stand_in(real, lambda x: "stand-in")
    assert proxy(torch.zeros(1, 2)) == "stand-in" and calls == []  # hooks on the real module see no call
    assert proxy.weight is real.weight
