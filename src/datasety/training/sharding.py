"""LoRA and optimizer state under FSDP: gathered whole for a file, sharded again on resume.

Under accelerate's FSDP (version 2: torch's ``fully_shard``) every parameter is a ``DTensor``
holding this process's shard, and the optimizer's moments are sharded the same way. The LoRA
file and the checkpoints hold whole tensors, so they load anywhere (one process, plain
data-parallel, FSDP). Gathering and sharding are collectives: every process calls these
functions at the same point of the loop. Without FSDP they change nothing.
"""

from __future__ import annotations

from typing import Any


def gathered(value: Any) -> Any:
    """``value`` (a tensor, or dicts and lists of them) with every sharded tensor gathered
    whole on this process."""
    from torch.distributed.tensor import DTensor

    if isinstance(value, DTensor):
        return value.full_tensor()
    if isinstance(value, dict):
        return {key: gathered(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(gathered(item) for item in value)
    return value


def sharded_like_params(state: dict[str, Any], optimizer: Any) -> dict[str, Any]:
    """An optimizer's ``state_dict()`` of whole tensors with each parameter's moments sharded
    as that parameter is (its ``step`` counter stays a plain tensor)."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    params = [param for group in optimizer.param_groups for param in group["params"]]
    per_param: dict[Any, dict[str, Any]] = {}
    for index, saved in state["state"].items():
        param = params[int(index)]
        per_param[index] = {
            key: distribute_tensor(value.to(param.device), param.device_mesh, param.placements)
            if isinstance(param, DTensor) and getattr(value, "shape", None) == param.shape
            else value
            for key, value in saved.items()
        }
    return {**state, "state": per_param}
