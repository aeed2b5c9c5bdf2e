"""Benchmark: the overhead per job of the Ray executor against the local executor.

    .venv/bin/python bench/bench_ray.py             # 10 jobs per executor, alternating
    .venv/bin/python bench/bench_ray.py --jobs 20

What it does (needs the ray extra: ``pip install -e '.[ray]'``):

1. starts a single-node Ray head on loopback (2 CPUs, its own temp dir, stopped afterwards by
   its own processes, as the tests do: ``tests/server/rayhead.py``);
2. starts two ``datasety server`` processes on free ports, each with its own data dir under
   ``bench/.work/``: one with ``--executor local``, one with ``--executor ray``;
3. submits the same tiny job (``resize`` of one 64x48 PNG to 32x32) to each, alternately, one
   job at a time, and times **submit-to-done**: from sending ``POST /v1/jobs`` until
   ``GET /v1/jobs/<id>`` shows ``done`` (polled every 20 ms). The command's own run time is the
   same on both sides, so the difference is the executor's overhead;
4. reports the median and p90 of each and the ratio ray/local, plus the part Ray itself
   accounts for (its job's ``start_time`` to ``end_time``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "ray"
sys.path.insert(0, str(ROOT / "tests" / "server"))
sys.path.insert(0, str(BENCH))

from rayhead import RayHead  # noqa: E402 (a test helper, found through the path above)

from bench_jobs import stats  # noqa: E402
from bench_resize import machine  # noqa: E402


def make_input() -> Path:
    folder = WORK / "input"
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (200, 40, 90)).save(folder / "tiny.png")
    return folder


def start_server(name: str, *flags: str) -> tuple[subprocess.Popen[str], str]:
    data_dir = WORK / f"data-{name}"
    shutil.rmtree(data_dir, ignore_errors=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "datasety", "server", "--port", "0", "--data-dir", str(data_dir)]
        + list(flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"running at (http://\S+?)/ ", line)
    if not found:
        process.kill()
        raise SystemExit(f"{name} server did not start: {line}{process.stdout.read()}")
    base = found.group(1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/v1/jobs", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} server did not answer")


def one_job(client: httpx.Client, base: str, src: Path, out: Path) -> tuple[float, str]:
    """Seconds from submit to done, and the job's id."""
    shutil.rmtree(out, ignore_errors=True)
    payload = {
        "command": "resize",
        "args": {"input": str(src), "output": str(out), "resolution": "32x32"},
    }
    started = time.perf_counter()
    response = client.post(f"{base}/v1/jobs", json=payload)
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        job = client.get(f"{base}/v1/jobs/{job_id}").json()
        if job["ended_at"] is not None:
            elapsed = time.perf_counter() - started
            if job["status"] != "done" or not (out / "tiny.jpg").exists():
                raise SystemExit(f"job failed on {base}: {job}")
            return elapsed, job_id
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="jobs per executor")
    options = parser.parse_args()

    from ray.job_submission import JobSubmissionClient

    src = make_input()
    head = RayHead(WORK / "head").start()
    servers: list[subprocess.Popen[str]] = []
    times: dict[str, list[float]] = {"local": [], "ray": []}
    ray_side: list[float] = []
    try:
        local, local_base = start_server("local")
        servers.append(local)
        ray, ray_base = start_server("ray", "--executor", "ray", "--ray-address", head.address)
        servers.append(ray)
        ray_client = JobSubmissionClient(head.address)
        bases = {"local": local_base, "ray": ray_base}
        with httpx.Client(timeout=120) as client:
            for name, base in bases.items():
                one_job(client, base, src, WORK / f"out-{name}")  # warm-up
            for _ in range(options.jobs):
                for name, base in bases.items():
                    elapsed, job_id = one_job(client, base, src, WORK / f"out-{name}")
                    times[name].append(elapsed)
                    if name == "ray":
                        info = ray_client.get_job_info(f"datasety-{job_id}")
                        ray_side.append((info.end_time - info.start_time) / 1000)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        head.stop()

    print(machine())
    print(f"{options.jobs} tiny resize jobs per executor, one at a time, alternating")
    local_med, local_p90 = stats(times["local"])
    ray_med, ray_p90 = stats(times["ray"])
    inside_med, _ = stats(ray_side)
    print(f"submit-to-done, local executor: median {local_med:6.2f} s (p90 {local_p90:6.2f})")
    print(f"submit-to-done, Ray executor:   median {ray_med:6.2f} s (p90 {ray_p90:6.2f})")
    print(
        f"ratio ray/local: {ray_med / local_med:.2f}; overhead per job: {ray_med - local_med:.2f} s"
    )
    print(f"of which Ray's own start_time -> end_time: median {inside_med:.2f} s")


if __name__ == "__main__":
    main()
