"""The training loop on a Ray cluster: ``train --workers N``.

The SAME :func:`~datasety.training.loop.train` runs in each of the N workers of a Ray Train
``TorchTrainer``. Ray Train creates the torch.distributed process group and sets the
variables torchrun would (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ...), so
the loop's ``accelerate.Accelerator`` finds a data-parallel run exactly as under ``torchrun``:
each worker draws its own batches, accelerate averages the gradients, rank 0 writes the
checkpoints and the LoRA. Nothing here distributes anything itself.

Where things go:

* checkpoints and the LoRA: the loop's own files (``OUTPUT_STEM.checkpoints/step-N.pt``,
  atomic), which rank 0 writes wherever it runs: ``--output`` must be on storage every node
  sees, like every dataset folder of a cluster (docs/cluster.md). ``--resume`` reads them as
  it does for any run. Ray's own run state goes to ``OUTPUT_STEM.checkpoints/ray`` (Ray's
  ``RunConfig(storage_path=...)``; never the home folder's ``~/ray_results``).
* progress: rank 0's reporter sends each step (loss, ETA) and note through a Ray queue to this
  process, whose :class:`~datasety.core.progress.Progress` prints them: a job shows the same
  progress as a run on one machine.
* which cluster: whatever ``ray.init()`` finds: the cluster of the Ray job this runs in (the
  server's ``--executor ray``), ``RAY_ADDRESS``, a Ray started on this machine with
  ``ray start``, or else a local Ray for the length of the run.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from queue import Empty
from typing import Any

from datasety.core.errors import DatasetyError
from datasety.core.progress import Progress
from datasety.models.extras import require
from datasety.training.checkpoint import checkpoint_dir
from datasety.training.loop import TrainSettings, train

# The driver's model-cache settings, passed to the workers (Ray starts their processes from
# its own environment, not this one's). Unset ones are not passed: each node keeps its own.
PASSED_ENV = ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "XDG_CACHE_HOME")
RAY_STATE_FOLDER = "ray"
# Set by Ray Jobs in a job's entrypoint: the job's configuration, its environment included.
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"


class RelayedProgress(Progress):
    """A worker's reporter: each event goes to the driver through ``relay`` (a Ray queue);
    nothing is printed in the worker."""

    def __init__(self, relay: Any, total: int) -> None:
        super().__init__(total=total, _jsonl=False)
        self.relay = relay

    def processed(
        self, item: str, message: str | None = None, fields: dict[str, Any] | None = None
    ) -> None:
        self.n_processed += 1
        self.relay.put(("step", self.n_processed, item, message, fields))

    def note(self, message: str) -> None:
        self.relay.put(("note", message))


def train_on_ray(settings: TrainSettings, workers: int, reporter: Progress) -> dict[str, Any]:
    """Run :func:`train` on ``workers`` Ray Train workers; returns rank 0's summary."""
    if settings.device == "mps":
        raise DatasetyError("--workers runs on Ray Train workers with CUDA GPUs or CPUs, not mps")
    (ray,) = require("ray", "ray", purpose="train --workers")
    require("ray", "ray.train", "ray.train.torch", purpose="train --workers")
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    if not ray.is_initialized():
        ray.init(runtime_env=_runtime_env())
    use_gpu = _use_gpu(ray, settings.device, workers)
    worker_settings = dataclasses.replace(settings, device="cuda" if use_gpu else "cpu")
    storage = checkpoint_dir(settings.output.resolve())
    # The queue is an actor; it holds no CPU so the workers get all the cluster has.
    relay = Queue(actor_options={"num_cpus": 0})
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"settings": worker_settings, "relay": relay},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        run_config=RunConfig(name=RAY_STATE_FOLDER, storage_path=str(storage)),
    )
    reporter.note(
        f"Ray Train: {workers} workers ({'one GPU' if use_gpu else 'CPU'} each) on the cluster "
        f"at {ray.get_runtime_context().gcs_address}"
    )
    summary: dict[str, Any] = {"main": True}  # this process reports; rank 0's summary joins
    stop = threading.Event()

    def apply(event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "note":
            reporter.note(event[1])
        elif kind == "step":
            _, done, item, message, fields = event
            reporter.n_processed = done - 1
            reporter.processed(item, message, fields)
        elif kind == "summary":
            summary.update(event[1])

    follower = threading.Thread(
        target=_follow, args=(relay, apply, stop), name="datasety-ray-train", daemon=True
    )
    follower.start()
    try:
        trainer.fit()
    except Exception as exc:
        error = _user_error(exc)
        if error is None:
            raise
        raise error from None
    finally:
        stop.set()
        follower.join()
    for event in relay.get_nowait_batch(relay.qsize()):
        apply(event)  # what the follower had not taken yet
    ray.kill(relay.actor)
    return summary


def _runtime_env() -> dict[str, Any] | None:
    """The environment the workers get besides their node's. Inside a Ray job (the server's
    ``--executor ray``) the job's own environment already reaches them, and Ray refuses a
    second value for one of its variables: nothing is added."""
    if JOB_CONFIG_ENV in os.environ:
        return None
    return {"env_vars": {name: os.environ[name] for name in PASSED_ENV if name in os.environ}}


def _use_gpu(ray: Any, device: str, workers: int) -> bool:
    """``--device cuda``: GPUs; ``cpu``: CPUs; ``auto``: GPUs when the cluster has enough.
    A cluster without ``workers`` of them is a one-line error: Ray Train would wait for them
    forever (an autoscaling cluster must have its nodes up before the run)."""
    resources = ray.cluster_resources()
    use_gpu = device == "cuda" or (device != "cpu" and float(resources.get("GPU", 0)) >= workers)
    wanted = "GPU" if use_gpu else "CPU"
    if float(resources.get(wanted, 0)) < workers:
        raise DatasetyError(
            f"--workers {workers} needs {workers} {wanted}s (one per worker"
            f"{', --device cuda' if device == 'cuda' else ''}); the Ray cluster at "
            f"{ray.get_runtime_context().gcs_address} has {_describe(resources)}"
        )
    return use_gpu


def _describe(resources: dict[str, float]) -> str:
    """A cluster's CPUs and GPUs, e.g. ``2 CPUs, 0 GPUs``."""
    return ", ".join(f"{float(resources.get(name, 0)):g} {name}s" for name in ("CPU", "GPU"))


def _follow(relay: Any, apply: Callable[[tuple[Any, ...]], None], stop: threading.Event) -> None:
    """Apply the workers' events as they come, until ``stop``."""
    while not stop.is_set():
        try:
            event = relay.get(timeout=0.5)
        except Empty:
            continue
        apply(event)


def _worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: the loop, with its reports sent to the driver."""
    settings: TrainSettings = config["settings"]
    relay = config["relay"]
    summary = train(settings, RelayedProgress(relay, settings.steps))
    if summary["main"]:
        relay.put(("summary", summary))


def _user_error(exc: BaseException) -> DatasetyError | None:
    """The one-line error (a DatasetyError) a worker raised, found in Ray's wrapping of it;
    None for anything else (which stays Ray's exception)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DatasetyError) and isinstance(
            getattr(current, "message", None), str
        ):
            return DatasetyError(current.message)
        failures = getattr(current, "worker_failures", None)
        if isinstance(failures, dict):
            pending.extend(e for e in failures.values() if isinstance(e, BaseException))
        # Ray wraps a worker's exception (``cause``); Python chains (``__cause__``).
        for linked in (getattr(current, "cause", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return None
