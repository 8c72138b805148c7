"""Multi-process training through PyTorch's own DDP, set up from torchrun's environment.

``torchrun --nproc_per_node=N -m ganforge train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; we
read them, pick NCCL on GPUs and gloo on CPUs, and wrap the networks in DistributedDataParallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..sampling import pick_device


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: str = "auto") -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, pick_device(device))
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(rank, world, dev)


def any_flag(flag: bool, d: Dist) -> bool:
    """True on every process if it is true on any (so all stop at the same step)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def wait_all(d: Dist) -> None:
    """Barrier: a process that finishes early must not tear gloo down while rank 0 still writes
    (seen as 'terminate called without an active exception' in the early process)."""
    if d.enabled and dist.is_initialized():
        dist.barrier()


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
