"""Training on several processes with torch.distributed, as started by torchrun.

Every process reads all the names and walks through the same batch plan; each takes its own
share of the names of every batch. Gradients are averaged by DistributedDataParallel, and the
loss is scaled so that the average equals the gradient of the whole batch's loss: the update
is the one a single process would make on the same global batch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process logs, shows progress and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1

    def shard(self, indices: list[int]) -> list[int]:
        """This process's share of a batch: every size-th name, starting at rank."""
        return indices[self.rank :: self.size]

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when `flag` is true on at least one (a stop request, say)."""
        if not self.is_distributed:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


def join_world(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun describes in the environment, if there is one.

    Returns the world and the device this process should use: on GPUs, each process takes
    the one of its local rank.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    world = World(dist.get_rank(), dist.get_world_size())
    if world.is_main:
        log.info("training on %d processes (%s backend)", world.size, dist.get_backend())
    return world, device


def leave_world(world: World) -> None:
    if world.is_distributed and dist.is_initialized():
        dist.destroy_process_group()
