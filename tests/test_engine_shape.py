"""The engine's shape: no import cycles, one job path for every front end, one source for defaults, files a user
owns left alone, and package data that works from a wheel."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghibli_core import defaults
from ghibli_core.animate import AnimationSettings
from ghibli_core.cli import SUBCOMMANDS, main
from ghibli_core.comfy_client import DEFAULT_WORKFLOW, WORKFLOWS_DIR
from ghibli_core.errors import InputError, check_choice, first_line
from ghibli_core.export import read_metadata
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.plan import Plan
from ghibli_core.presets import DEFAULT_PRESET, PRESETS, get_preset

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "ghibli_core"


# --- imports ---------------------------------------------------------------------------------------------------

def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    found = {}
    for file in root.rglob("*.py"):
        parts = list(file.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (file, is_package)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package modules it imports, counting imports inside functions. `from pkg import sub` is an edge
    to `pkg.sub` only (the package is already initialised by then); `from pkg import name` is an edge to `pkg`."""
    modules = _modules(root)
    top = root.name
    graph: dict[str, set[str]] = {}
    for name, (file, is_package) in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == top]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.split(".")[0] == top:
                    target = node.module
                else:
                    continue
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                targets = subs + ([target] if len(subs) < len(node.names) else [])
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle_in_the_engine_counting_imports_inside_functions():
    graph = import_graph(ENGINE)
    assert len(graph) > 40 and "ghibli_core.cli.generate" in graph  # the walk sees the whole package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import g\n")
    (pkg / "b.py").write_text("def g():\n    from . import a\n    return a\n")
    assert find_cycle(import_graph(pkg)) == ["pkgx.a", "pkgx.b", "pkgx.a"]


def _callers(function: str) -> set[str]:
    """Files of the engine, the nodes and the benchmarks whose code calls `function`."""
    found = set()
    for file in [*ENGINE.rglob("*.py"), *(REPO / "bench").glob("*.py"), *(REPO / "nodes").glob("*.py")]:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function:
                found.add(file.relative_to(REPO).as_posix())
    return found


def test_the_idea_to_file_path_exists_once():
    """Only job.py renders and writes an animation; the CLI, the batch workers and the benchmark call it."""
    # the node paints frames for other nodes through the job (the saver node finishes them); job.py is the one path
    assert _callers("render_animation") == {"ghibli_core/job.py"}
    assert _callers("render_job") == {"ghibli_core/job.py", "nodes/generate.py"}
    assert _callers("run_job") == {"ghibli_core/cli/generate.py", "ghibli_core/batch/worker.py", "bench/bench_animate.py",
                                   "bench/bench_engine.py"}
    # one finishing step for every job type: only it writes an animation file
    assert _callers("finish") == {"ghibli_core/cli/blend.py", "ghibli_core/cli/move.py", "nodes/save.py"}
    assert _callers("Finisher") == {"ghibli_core/job.py", "ghibli_core/video/job.py", "ghibli_core/finish.py"}
    assert _callers("save_animation") == {"ghibli_core/finish.py"}
    assert not (ENGINE / "cli.py").exists() and all((ENGINE / "cli" / f"{m}.py").is_file() for m, _ in SUBCOMMANDS.values())


# --- defaults ----------------------------------------------------------------------------------------------------

def test_settings_take_their_defaults_from_the_default_preset():
    plain, preset = AnimationSettings(), PRESETS[DEFAULT_PRESET]
    assert {k: getattr(plain, k) for k in preset.values() if k in preset.ANIMATION_FIELDS} == \
        {k: v for k, v in preset.values().items() if k in preset.ANIMATION_FIELDS}
    assert plain.guidance == defaults.GUIDANCE  # the default preset leaves guidance to the setting
    assert (plain.frames, plain.width, plain.height) == (defaults.FRAMES, *defaults.size())
    assert defaults.size(tiny=True) == (defaults.TINY_SIZE,) * 2
    # descriptions are written from the values, so they cannot drift from them
    assert "16 steps, strength 0.45" in preset.description and "every 2nd frame" in preset.description


def test_check_choice_and_first_line():
    with pytest.raises(InputError, match=r"^flow: unknown method 'x'; use one of dis, farneback$"):
        check_choice("flow", "x", ("dis", "farneback"), "method")
    check_choice("flow", "dis", ("dis", "farneback"))
    assert first_line(ValueError("")) == "ValueError"  # str(exc).splitlines()[0] raised IndexError here
    assert first_line(OSError("\n  disk full\nmore")) == "disk full"
    assert first_line(RuntimeError("x" * 500), 20) == "x" * 20


# --- the job -----------------------------------------------------------------------------------------------------

def test_a_job_is_checked_whole_before_any_model_loads(tmp_path):
    with pytest.raises(InputError, match="frames: 3 but the plan holds 2"):
        AnimationJob(painting=AnimationSettings(frames=3), plan=Plan("x", ["a", "b"], "test"))
    with pytest.raises(InputError, match="output: folder .* does not exist"):
        AnimationJob(idea="x", output=tmp_path / "missing" / "x.gif")
    with pytest.raises(InputError, match="init-image: no file"):
        AnimationJob(idea="x", init_image=tmp_path / "none.png")
    with pytest.raises(InputError, match="prompt: is empty"):
        AnimationJob()
    job = AnimationJob(idea="  a windy   hill. ", motion=get_preset("fast").motion())
    assert job.idea == "a windy hill" and job.painting.seed is not None and job.planner.seed == job.painting.seed
    assert job.fps == 16.0  # one in-between: twice the painted pace


def test_run_job_writes_the_file_its_metrics_and_frames_with_the_metadata_built_once(pipes, tmp_path):
    preset = get_preset("fast")
    job = AnimationJob(painting=preset.animation(frames=2, width=64, height=64, seed=4), motion=preset.motion(), idea="a hill",
                       preset="fast", output=tmp_path / "a.webp", frames_dir=tmp_path / "frames", init_image=None)
    result = run_job(job, pipes, progress=False)
    meta = read_metadata(tmp_path / "a.webp")
    assert meta == json.loads(json.dumps(result.metadata))  # what was written is what run_job built
    for key in ("generator", "prompt", "plan", "plan_backend", "plan_model", "plan_warnings", "plan_settings", "seed", "preset",
                "settings", "motion", "schedule", "fps", "models", "init_image", "metrics"):
        assert key in meta, key
    assert meta["seed"] == 4 and meta["preset"] == "fast" and meta["schedule"]["output_frames"] == len(result.output_frames) == 4
    assert json.loads((tmp_path / "a.metrics.json").read_text())["output"] == "a.webp"
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 4
    # no output: frames only (the benchmark's use)
    quiet = run_job(job.replace(output=None, frames_dir=None), pipes, progress=False)
    assert len(quiet.output_frames) == 4 and sorted(p.name for p in tmp_path.iterdir()) == ["a.metrics.json", "a.webp", "frames"]


# --- make-tiny never deletes what it did not write -----------------------------------------------------------------

def test_make_tiny_refuses_a_folder_holding_other_files_and_leaves_it_untouched(tmp_path, capsys):
    target = tmp_path / "models"
    (target / "precious").mkdir(parents=True)
    (target / "precious" / "file.txt").write_text("mine")
    (target / "a.safetensors").write_bytes(b"weights")
    assert main(["make-tiny", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and "nothing was changed" in err
    assert (target / "precious" / "file.txt").read_text() == "mine" and (target / "a.safetensors").read_bytes() == b"weights"
    assert sorted(p.name for p in target.iterdir()) == ["a.safetensors", "precious"]


@pytest.mark.slow
def test_make_tiny_rebuilds_its_own_output_but_not_over_a_file_added_to_it(tmp_path, capsys):
    target = tmp_path / "t"
    assert main(["make-tiny", str(target)]) == 0
    assert main(["make-tiny", str(target), "--seed", "1"]) == 0  # its own earlier output: rebuilt
    assert json.loads((target / "tiny-models.json").read_text())["seed"] == 1
    mine = target / "loras" / "mine.safetensors"
    mine.write_bytes(b"a user's LoRA")
    capsys.readouterr()
    assert main(["make-tiny", str(target)]) == 2
    assert "loras/mine.safetensors" in capsys.readouterr().err and mine.read_bytes() == b"a user's LoRA"


# --- package data ----------------------------------------------------------------------------------------------------

def test_the_packs_api_workflows_are_the_packaged_ones():
    packaged = sorted(p.name for p in WORKFLOWS_DIR.glob("*.json"))
    assert packaged == sorted(p.name for p in (REPO / "workflows" / "api").glob("*.json")) and DEFAULT_WORKFLOW.name in packaged
    for name in packaged:
        assert (WORKFLOWS_DIR / name).read_bytes() == (REPO / "workflows" / "api" / name).read_bytes(), \
            f"workflows/api/{name} drifted from ghibli_core/workflows/{name}: run scripts/build_workflows.py"


@pytest.mark.slow
def test_comfy_command_finds_its_workflow_after_a_non_editable_install(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                            str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    assert (target / "ghibli_core" / "workflows" / "ghibli_animation.json").is_file()
    code = ("import sys, ghibli_core; assert ghibli_core.__file__.startswith(sys.argv[1]), ghibli_core.__file__; "
            "from ghibli_core.cli import main; sys.exit(main(sys.argv[2:]))")
    out = tmp_path / "x.gif"
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", code, str(target), "comfy", "--server", "http://127.0.0.1:9", "x", "-o", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "no ComfyUI answers" in run.stderr and "workflow" not in run.stderr and not out.exists()


def test_the_pack_is_ready_for_the_registry(tmp_path):
    """[tool.comfy] names a publisher, a display name and an icon that is in the repository; no __pycache__ or .pyc is
    tracked (signed-pack policies refuse them, and `comfy node pack` ships git-tracked files); `comfy node validate`
    passes where comfy-cli is installed (`make comfyui` installs it)."""
    import shutil
    import tomllib

    root = Path(__file__).resolve().parents[1]
    comfy = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "Ghibli Animation"
    assert comfy["Icon"].startswith("https://") and (root / comfy["Icon"].split("/main/", 1)[1]).is_file()
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.splitlines()
    assert tracked and not [f for f in tracked if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    cli = shutil.which("comfy") or (str(Path(sys.executable).with_name("comfy")) if Path(sys.executable).with_name("comfy").exists() else None)
    if cli is None:
        if os.environ.get("GHIBLI_REQUIRE_COMFYUI") == "1":
            pytest.fail("comfy-cli is not installed: run `make comfyui`")
        pytest.skip("comfy-cli is not installed (`make comfyui` installs it)")
    run = subprocess.run([cli, "--skip-prompt", "--no-enable-telemetry", "node", "validate"], cwd=root, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL)
    assert run.returncode == 0 and "passed" in run.stdout + run.stderr, run.stdout + run.stderr


def test_the_pack_reaches_the_engine_through_its_public_api_only():
    """nodes/ imports ghibli_core.api and nothing else of the engine (counting imports inside functions)."""
    import ghibli_core.api as api

    found = {}
    for file in (REPO / "nodes").glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ghibli_core":
                found.setdefault(node.module, set()).add(file.name)
                assert all(alias.name in api.__all__ for alias in node.names), (file.name, [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "ghibli_core" for a in node.names), file.name
    assert set(found) == {"ghibli_core.api"}, found
    assert sorted(api.__all__) == sorted(set(api.__all__)) and all(hasattr(api, n) for n in api.__all__)
