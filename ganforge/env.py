"""Where a run executes: device, DDP rank/world, precision and CPU threads.

``torchrun --nproc_per_node=N -m ganforge train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; we read
them, pick NCCL on GPUs and gloo on CPUs, and wrap networks in PyTorch's own
DistributedDataParallel through :meth:`Env.parallel` -- never a home-made distributed layer.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .errors import GanforgeError


def pick_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda if present, else mps, else cpu; anything else is checked, not assumed."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise GanforgeError(f"--device {device!r}: not a device (use auto, cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GanforgeError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise GanforgeError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    return dev


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def other_cpu_use(window: float = 0.3) -> float:
    """Cores' worth of CPU that *other* processes used over a short window (Linux /proc; 0.0
    where it cannot be read). Unlike the load average it excludes this process and is current."""

    def sample() -> tuple[int, int, int]:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(vals) - vals[3] - vals[4], int(fields[11]) + int(fields[12]), sum(vals)

    try:
        busy0, own0, total0 = sample()
        time.sleep(window)
        busy1, own1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    if total1 <= total0:
        return 0.0
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / (total1 - total0) * (os.cpu_count() or 1)


def choose_threads(requested: int | None, local_world: int = 1) -> tuple[int, str]:
    """Intra-op CPU threads for training, and why.

    ``--threads`` (or the count a resumed run recorded) wins; then ``OMP_NUM_THREADS``; else the
    usable cores (the affinity mask) shared by this machine's processes. Never the machine's
    load at start: the thread count changes how float sums are split, so a count taken from a
    load sample gave the same command and seed different weights (max |dw| 0.0076) depending
    on what else ran when it started. Contention is warned about (:func:`contention_warning`),
    and ``--threads`` is the user's way to trade. The count is recorded in config.json, so a
    resumed run uses the same one unless --threads says otherwise.
    """
    if requested:
        return requested, "--threads"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    cores = max(1, usable_cores() // max(local_world, 1))
    if local_world > 1:
        return cores, f"{cores} cores per process"
    return cores, f"{cores} cores"


def contention_warning(threads: int) -> str | None:
    """A warning when other work keeps the CPU busy beyond what ``threads`` leaves free.

    Measured on 2 cores (README "Threads", benchmarks/threads.py): alone, 2 threads beat 1
    (466 vs 284 img/s); two runs side by side at 2 threads each crawl at 19 img/s each, at 1
    thread each they make 310 img/s each.
    """
    busy = other_cpu_use()
    cores = usable_cores()
    if busy < 0.5 or threads + busy <= cores + 0.5:
        return None
    advice = (f"--threads {max(1, round(cores - busy))} (same seed, other weights: the thread "
              "count is part of a run's arithmetic), or one job at a time, is faster"
              if threads > 1 else "one job at a time is faster")
    return (f"warning: other work keeps {busy:.1f} of {cores} cores busy; with {threads} "
            f"thread{'s' if threads > 1 else ''} this run and that work can slow each other many "
            f"times over (README 'Threads'); {advice}")


@dataclass(frozen=True)
class Env:
    """One training process: its device, DDP rank and world, precision and thread count."""

    device: torch.device = torch.device("cpu")
    rank: int = 0
    world: int = 1
    precision: str = "fp32"
    threads: int = 1
    threads_why: str = ""

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True under torchrun with more than one process."""
        return self.world > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when asked for (fast with AVX512-BF16/AMX and on GPUs), else nothing."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def parallel(self, module: nn.Module) -> nn.Module:
        """The module as training should call it: DDP-wrapped across processes, else itself.

        Recipes keep the raw module in their state, so no ``module.`` prefix leaks into files.
        """
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(module)

    def say(self, quiet: bool) -> Callable[[str], None]:
        """A print to stderr on the main process only (and not with ``quiet``)."""
        if quiet or not self.main:
            return lambda msg: None
        return lambda msg: print(msg, file=sys.stderr)


def setup(device: str = "auto", precision: str = "fp32", threads: int | None = None) -> Env:
    """The Env of this process; under torchrun also the process group (gloo or NCCL)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    n_threads, why = choose_threads(threads, local_world)
    torch.set_num_threads(n_threads)
    if world <= 1:
        return Env(pick_device(device), 0, 1, precision, n_threads, why)
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
    return Env(dev, rank, world, precision, n_threads, why)


def any_flag(flag: bool, env: Env) -> bool:
    """True on every process if it is true on any (so all stop at the same step)."""
    if not env.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def wait_all(env: Env) -> None:
    """Barrier: a process that finishes early must not tear gloo down while rank 0 still writes
    (seen as 'terminate called without an active exception' in the early process)."""
    if env.enabled and dist.is_initialized():
        dist.barrier()


def teardown(env: Env) -> None:
    if env.enabled and dist.is_initialized():
        dist.destroy_process_group()


def rng_state(device: torch.device) -> dict[str, Any]:
    """torch's global RNG states: the only randomness a recipe may use besides module buffers."""
    out: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
