"""Benchmark: job submit-to-running latency, our server against the reference `datasety server`.

    .venv/bin/python bench/bench_jobs.py              # 20 jobs on each server
    .venv/bin/python bench/bench_jobs.py --jobs 50

What it does (inputs and server data under bench/.work, gitignored):

1. starts the reference server (``bench/.venv-reference``, installed on first use, see
   bench_resize.py) and ours (``--data-dir bench/.work/jobs-data``, default ``--max-jobs 1``),
   each as its own process, and leaves them idle;
2. submits the same small job to each, alternately, one at a time (each waits for the previous
   to end, so every submit meets an idle server): ``resize`` of one 64x48 PNG to 32x32;
3. times, per job:
   * submit-to-running: ``POST /v1/jobs`` sent until its 202 arrives. Ours answers
     ``"started"`` only after the job's process exists and its row says ``running`` (the
     script checks both with a GET right after); the reference answers after its Popen;
   * submit-to-first-output: until the command's first line shows in ``GET /v1/jobs/<id>``
     (polled every 5 ms): the whole path a user waits for, Python start-up of the command
     included; ours also starts the exit-status wrapper and reads the log file.
4. reports the median and 90th percentile of each, and the ratio ours / reference.

Goal (issue 4): median submit-to-running under 200 ms on an idle server.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_listing import free_port, start  # noqa: E402
from bench_resize import WORK, machine, our_command, reference_command  # noqa: E402

SRC = WORK / "jobs-src"
OUT = WORK / "jobs-out"
DATA_DIR = WORK / "jobs-data"


def make_input() -> None:
    shutil.rmtree(SRC, ignore_errors=True)
    SRC.mkdir(parents=True)
    Image.new("RGB", (64, 48), (120, 30, 200)).save(SRC / "one.png")


def one_job(client: httpx.Client, base: str, ours: bool) -> tuple[float, float]:
    """(submit-to-running, submit-to-first-output) in seconds, for one job run to its end."""
    shutil.rmtree(OUT, ignore_errors=True)
    payload = {
        "command": "resize",
        "args": {"input": str(SRC), "output": str(OUT), "resolution": "32x32"},
    }
    started = time.perf_counter()
    response = client.post(f"{base}/v1/jobs", json=payload)
    running = time.perf_counter() - started
    if response.status_code != 202 or response.json().get("status") != "started":
        sys.exit(f"submit failed: {response.status_code} {response.text}")
    job_id = response.json()["id"]
    url = f"{base}/v1/jobs/{job_id}"
    first_output = None
    while True:
        job = client.get(url).json()
        if ours and first_output is None and job["status"] not in ("running", "done"):
            sys.exit(f"our job is {job['status']} right after a 'started' answer")
        if first_output is None and job.get("output"):
            first_output = time.perf_counter() - started
        if job["status"] != "running":
            break
        time.sleep(0.005)
    if job["status"] != "done" or first_output is None:
        sys.exit(f"job ended {job['status']}: {job.get('output')}")
    return running, first_output


def stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="jobs per server")
    options = parser.parse_args()

    make_input()
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    ref_port, our_port = free_port(), free_port()
    reference = start([str(reference_command())], ref_port)
    ours = start(our_command(), our_port, "--data-dir", str(DATA_DIR))
    results: dict[str, list[tuple[float, float]]] = {"reference": [], "ours": []}
    try:
        with httpx.Client(timeout=60) as client:
            for name, port in (("reference", ref_port), ("ours", our_port)):
                one_job(client, f"http://127.0.0.1:{port}", name == "ours")  # warm-up
            for _ in range(options.jobs):
                for name, port in (("reference", ref_port), ("ours", our_port)):
                    base = f"http://127.0.0.1:{port}"
                    results[name].append(one_job(client, base, name == "ours"))
    finally:
        for proc in (reference, ours):
            proc.terminate()
            proc.wait(timeout=30)

    print(machine())
    print(f"{options.jobs} jobs per server, one at a time, on idle servers")
    for index, label in ((0, "submit-to-running"), (1, "submit-to-first-output")):
        ref_med, ref_p90 = stats([r[index] for r in results["reference"]])
        our_med, our_p90 = stats([r[index] for r in results["ours"]])
        print(
            f"{label:24} reference median {ref_med * 1000:7.1f} ms (p90 {ref_p90 * 1000:7.1f})"
            f"   ours median {our_med * 1000:7.1f} ms (p90 {our_p90 * 1000:7.1f})"
            f"   ours/reference {our_med / ref_med:5.2f}"
        )
    our_running = stats([r[0] for r in results["ours"]])[0]
    verdict = "met" if our_running < 0.2 else "NOT met"
    print(f"goal: median submit-to-running under 200 ms: {verdict} ({our_running * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
