"""`ghibli-anim batch --ray` on a local Ray cluster started by the tests (two actors, one killed mid-job)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from comfy_server import REPO
from ghibli_core.batch import load_jobs, verify_output

if os.environ.get("GHIBLI_REQUIRE_RAY") == "1":
    import ray
else:
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ghibli-anim[ray]')")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("tiny_env")]  # a Ray cluster; `--tiny` uses this session's set

@pytest.fixture(scope="module")
def ray_cluster(tiny):
    ray.init(num_cpus=2, object_store_memory=256 * 2**20, include_dashboard=False, logging_level="warning", log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
    yield
    ray.shutdown()


def test_ray_two_actors_survive_losing_one_mid_job(ray_cluster, tiny, tmp_path, jobs_files):
    from ghibli_core.batch.ray_pool import run_ray

    jobs = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", jobs_files.rows(5)))
    out = tmp_path / "out"
    ctx = jobs_files.ctx(tiny, out)
    killed = []

    def kill_first(job, actor):
        if not killed:
            killed.append(job.id)
            threading.Timer(0.5, ray.kill, args=(actor,), kwargs={"no_restart": True}).start()

    results = run_ray(jobs, ctx, workers=2, retries=2, progress=False, on_dispatch=kill_first)
    assert [r.status for r in results] == ["done"] * 5, [r.error for r in results]
    by_id = {r.id: r for r in results}
    assert by_id[killed[0]].attempts == 2  # it died with its actor and was rendered again by another
    assert len({r.worker for r in results}) >= 2
    for job in jobs:
        assert verify_output(out / job.output, ctx.fingerprint(job)) is None
    assert sorted(p.name for p in out.iterdir()) == sorted(j.output for j in jobs)  # no temp file, no marker left


def test_ray_bytes_transfer_and_resume(ray_cluster, tiny, tmp_path, jobs_files):
    from ghibli_core.batch.ray_pool import run_ray

    jobs = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", jobs_files.rows(3)))
    out = tmp_path / "out"
    ctx = jobs_files.ctx(tiny, out)
    first = run_ray(jobs[:2], ctx, workers=2, transfer="bytes", progress=False)
    assert [r.status for r in first] == ["done", "done"]
    again = run_ray(jobs, ctx, workers=2, resume=True, progress=False)
    assert [r.status for r in again] == ["skipped", "skipped", "done"]
    assert all(verify_output(out / j.output, ctx.fingerprint(j)) is None for j in jobs)


def test_cli_batch_tiny_ray_starts_its_own_local_cluster(tmp_path, tiny, jobs_files):
    jobs = jobs_files.write(tmp_path / "jobs.jsonl", jobs_files.rows(4))
    out = tmp_path / "out"
    env = {**os.environ, "GHIBLI_TINY_DIR": str(tiny.root), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-m", "ghibli_core.cli", "batch", str(jobs), "--tiny", "--ray", "--workers", "2",
                          "--out-dir", str(out), "-q"], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    summary = json.loads((out / "batch-summary.json").read_text())
    assert summary["counts"]["done"] == 4 and summary["mode"] == "ray (local)"
    assert len({j["worker"] for j in summary["jobs"]}) == 2


def test_ray_dispatches_the_rows_of_one_model_set_together(ray_cluster, tiny, tmp_path, jobs_files):
    from ghibli_core.batch.ray_pool import run_ray

    rows = jobs_files.rows(4)
    rows[0]["speed_lora"] = rows[2]["speed_lora"] = str(tiny.speed_lora)
    jobs = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", rows))
    dispatched = []
    results = run_ray(jobs, jobs_files.ctx(tiny, tmp_path / "out"), workers=1, progress=False,
                      on_dispatch=lambda job, actor: dispatched.append(job))
    assert [r.status for r in results] == ["done"] * 4 and [r.id for r in results] == [j.id for j in jobs]
    kinds = [job.speed_lora is not None for job in dispatched]
    assert sum(a != b for a, b in zip(kinds, kinds[1:])) == 1  # one switch of model set, not one per row
