"""Benchmark: serving a small image file, our server against the reference `datasety server`.

    .venv/bin/python bench/bench_serving.py              # 16 clients, 3 rounds of 4 s each
    .venv/bin/python bench/bench_serving.py --clients 32 --seconds 2 --rounds 5

What it does (inputs and server data under bench/.work, gitignored):

1. makes one photo-like JPEG of about 60 KB in ``bench/.work/serving``;
2. starts the reference server (``bench/.venv-reference``, installed on first use, see
   bench_resize.py) and ours, each as its own process on a free port, and registers the
   folder with each through its API;
3. **throughput**: ``--clients`` concurrent clients GET the image for ``--seconds``, in
   ``--rounds`` rounds alternating between the servers; each client keeps its connection
   alive where the server allows it (ours speaks HTTP/1.1 keep-alive; the reference answers
   HTTP/1.0 and closes each connection, so its clients reconnect per request), checks every
   response's status and length, and counts the requests done; reports requests/second
   (median of the rounds) and the ratio;
4. **latency**: one client, one kept-alive connection (a new one per request for the
   reference), ``--requests`` GETs one after another: median and 90th percentile.

The clients are asyncio coroutines speaking HTTP/1.1 over raw sockets in one process: a few
microseconds of client work per request, so the number measures the server, not httpx.
Goal (issue 10): throughput >= 3x the reference; single-client keep-alive median < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_jobs import stats  # noqa: E402
from bench_listing import free_port, start  # noqa: E402
from bench_resize import WORK, machine, our_command, photo_like, reference_command  # noqa: E402

DATASET = WORK / "serving"
DATA_DIR = WORK / "serving-data"
TARGET_BYTES = 60_000


def make_image() -> bytes:
    """A photo-like JPEG as close to 60 KB as a quality step allows (same bytes every run)."""
    image = photo_like(7, 640, 480)
    best = b""
    for quality in range(95, 10, -5):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        best = buffer.getvalue()
        if len(best) <= TARGET_BYTES:
            break
    shutil.rmtree(DATASET, ignore_errors=True)
    DATASET.mkdir(parents=True)
    (DATASET / "photo.jpg").write_bytes(best)
    return best


class Connection:
    """One client connection: HTTP/1.1 GETs, reconnecting when the server closes."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: identity\r\n\r\n"
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
        keep = lines[0].startswith("HTTP/1.1") and headers.get("connection") != "close"
        if not keep or "content-length" not in headers:
            writer.close()
            self.streams = None
        return status, body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def throughput(port: int, path: str, clients: int, seconds: float, size: int) -> float:
    """Requests per second that ``clients`` concurrent connections complete."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def client() -> None:
        nonlocal done
        connection = Connection(port, path)
        try:
            while time.perf_counter() < deadline:
                status, body = await connection.get()
                if status != 200 or len(body) != size:
                    sys.exit(f"port {port}: answered {status} with {len(body)} bytes")
                done += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def latencies(port: int, path: str, count: int, size: int) -> list[float]:
    """Seconds per GET, one client, one after another."""
    connection = Connection(port, path)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            status, body = await connection.get()
            times.append(time.perf_counter() - started)
            if status != 200 or len(body) != size:
                sys.exit(f"port {port}: answered {status} with {len(body)} bytes")
    finally:
        connection.close()
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux; 0 elsewhere)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def register(base: str) -> str:
    response = httpx.post(
        f"{base}/v1/datasets", json={"path": str(DATASET), "name": "serving"}, timeout=30
    )
    response.raise_for_status()
    dataset_id: str = response.json()["id"]
    return dataset_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--requests", type=int, default=200, help="single-client GETs")
    options = parser.parse_args()

    image = make_image()
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    ports = {"reference": free_port(), "ours": free_port()}
    procs = [
        # The reference must not see PYTHONPATH (set to run ours from a checkout).
        start(["env", "-u", "PYTHONPATH", str(reference_command())], ports["reference"]),
        start(our_command(), ports["ours"], "--data-dir", str(DATA_DIR)),
    ]
    print(f"machine: {machine()}")
    print(f"file: photo.jpg, {len(image)} bytes; {options.clients} clients")
    pids = {"reference": procs[0].pid, "ours": procs[1].pid}
    rates: dict[str, list[float]] = {"reference": [], "ours": []}
    cpu_per_request: dict[str, list[float]] = {"reference": [], "ours": []}
    single: dict[str, list[float]] = {"reference": [], "ours": []}
    try:
        paths = {
            name: f"/v1/datasets/{register(f'http://127.0.0.1:{port}')}/files/photo.jpg"
            for name, port in ports.items()
        }
        for name, port in ports.items():  # warm-up
            asyncio.run(throughput(port, paths[name], options.clients, 0.5, len(image)))
        for round_ in range(options.rounds):
            order = list(ports) if round_ % 2 == 0 else list(reversed(ports))
            for name in order:
                before = cpu_seconds(pids[name])
                rate = asyncio.run(
                    throughput(
                        ports[name], paths[name], options.clients, options.seconds, len(image)
                    )
                )
                rates[name].append(rate)
                used = cpu_seconds(pids[name]) - before
                cpu_per_request[name].append(used / (rate * options.seconds))
                single[name] += asyncio.run(
                    latencies(
                        ports[name], paths[name], options.requests // options.rounds, len(image)
                    )
                )
            print(
                f"round {round_ + 1}: reference {rates['reference'][-1]:7.0f} req/s "
                f"({cpu_per_request['reference'][-1] * 1e6:4.0f} us CPU each), "
                f"ours {rates['ours'][-1]:7.0f} req/s "
                f"({cpu_per_request['ours'][-1] * 1e6:4.0f} us CPU each)"
            )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)

    ref_rate, our_rate = statistics.median(rates["reference"]), statistics.median(rates["ours"])
    print(
        f"{options.clients} clients, requests/s (median of {options.rounds}): "
        f"reference {ref_rate:.0f}, ours {our_rate:.0f}, ratio {our_rate / ref_rate:.2f}x"
    )
    ref_cpu = statistics.median(cpu_per_request["reference"])
    our_cpu = statistics.median(cpu_per_request["ours"])
    print(
        f"server CPU per request (median): reference {ref_cpu * 1e6:.0f} us, "
        f"ours {our_cpu * 1e6:.0f} us, {ref_cpu / our_cpu:.2f}x less"
    )
    for name in ("reference", "ours"):
        median, p90 = stats(single[name])
        print(
            f"one client, ms per GET: {name:9} median {median * 1000:6.2f}  p90 {p90 * 1000:6.2f}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
