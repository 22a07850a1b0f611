"""torchrun / DistributedDataParallel: one process per device, rank 0 logs and saves.

Started by ``torchrun --nproc_per_node=N -m earthmover train ...``: the
environment variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT) are read here. Every process draws the same global
batch from the same generators and keeps its own shard, so N processes see
exactly the data of one process with the same global batch. A penalty's random
points are each process's slice of the draws one process would make, and its batch
statistics are the global batch's (see ``earthmover.losses.penalties.Shard``), so N processes
reproduce one process; dropout masks are the exception: each process draws its own
(``Trainer._seed_other_ranks``). Logged values cross processes in one all-reduce per
logging step (``means``); the step's finiteness flags and the stop signal in one more.

Gradient penalties need a double backward, which DistributedDataParallel does
not support through its own forward: the loop calls the wrapped critic once
on real and fake together (so DDP averages the gradients), and computes the
penalties on the unwrapped module inside the same backward pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This process's rows of a global batch of n."""
        if not self.enabled:
            return slice(None)
        per = n // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's slice of a global batch."""
        return batch if not self.enabled else batch[self.rows(batch.shape[0])]

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Average a tensor over processes (for logging)."""
        if not self.enabled:
            return value
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world_size

    def max(self, value: torch.Tensor) -> torch.Tensor:
        """Elementwise maximum of a tensor over processes (all processes must call it together)."""
        if not self.enabled:
            return value
        value = value.detach().to(self._reduce_device()).clone()
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return value

    def means(self, values: dict[str, torch.Tensor]) -> dict[str, float]:
        """Every value averaged over processes, read to the host: one all-reduce of the stacked
        values and one read, however many keys (every process must pass the same keys)."""
        if not values:
            return {}
        stacked = torch.stack([v.detach().float().reshape(()) for v in values.values()])
        if self.enabled:
            stacked = stacked.to(self._reduce_device())
            dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
            stacked = stacked / self.world_size
        return dict(zip(values, stacked.tolist()))

    def _reduce_device(self):
        return (
            torch.device("cuda", self.local_rank % torch.cuda.device_count()) if dist.get_backend() == "nccl" else "cpu"
        )

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is true on any (all processes must call it together)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self._reduce_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        # a growing network's blocks above the current resolution get no gradient in a step
        unused = any(getattr(m, "leaves_parameters_unused", False) for m in module.modules())
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=unused)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_from_environment(device_kind: str) -> DistributedContext:
    """Join the process group torchrun describes in the environment; a plain single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" and torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistributedContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0"))
    )


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
