"""Run ``datasety`` (as ``python -m datasety``) with accelerate's FSDP path taken on CPUs.

accelerate 1.15 honours a config's ``distributed_type: FSDP`` only on accelerators: CPU
processes (``--cpu``) stay plain data-parallel (``accelerate/state.py`` turns FSDP on for the
MULTI_GPU-like types only). The FSDP code itself, torch's ``fully_shard`` over gloo, runs on
CPUs; this launcher makes accelerate take it, so the test suite checks the training loop under
real sharding (LoRA weights and optimizer moments as DTensors, gathered for files, sharded
again on resume) on a CPU box. Launched by ``accelerate launch --config_file fsdp.yaml``.
"""

from __future__ import annotations

import runpy
import sys
from typing import Any

import accelerate
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin


class FsdpOnCpu(accelerate.Accelerator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        plugin = FullyShardedDataParallelPlugin()  # from the config's FSDP_* variables
        super().__init__(*args, fsdp_plugin=plugin, **kwargs)
        self.state.distributed_type = DistributedType.FSDP
        self.state.fsdp_plugin = plugin


if __name__ == "__main__":
    accelerate.Accelerator = FsdpOnCpu  # type: ignore[misc]
    sys.argv = ["datasety", *sys.argv[1:]]
    runpy.run_module("datasety", run_name="__main__", alter_sys=True)
