"""Where a run executes: device, precision, process group, threads."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import torch
import torch.distributed as dist

from trm.errors import TrmError
from trm.options import DEFAULT_PRECISION, check_precision

T = TypeVar("T")


@dataclass
class Runtime:
    """The device, rank and precision of this process."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    bf16: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def precision(self) -> str:
        """What runs: ``bf16`` (autocast) or ``fp32``, for logs and metrics."""
        return "bf16" if self.bf16 else "fp32"

    @property
    def state_dtype(self) -> torch.dtype:
        """dtype of the carried states (y, z)."""
        return torch.bfloat16 if self.bf16 else torch.float32

    def autocast(self):
        """A context factory: bf16 autocast (CUDA or CPU) when enabled, else nothing."""
        if self.bf16:
            return partial(torch.autocast, device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the OS.

    Activations of a training step are tens of MB; by default each is a fresh ``mmap`` whose
    pages fault in on first touch and are unmapped on free, every step. Keeping them in the
    heap measurably raises CPU throughput. No effect (and no error) without glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: its maximum; larger blocks stay mmapped
        libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD: do not give the heap top back below 1 GiB
        libc.mallopt(-2, 256 * 2**20)  # M_TOP_PAD: grow the heap in large steps
    except (OSError, AttributeError):
        pass


DEVICES = ("auto", "cpu", "cuda")  # and cuda:N, cpu:N


def check_device(device: str) -> str:
    """``device`` when it names a device trm runs on (whether it is present is not asked)."""
    name, _, index = device.partition(":")
    if name not in DEVICES or (index and (name == "auto" or not index.isdigit())):
        raise TrmError(f"device must be {', '.join(DEVICES)} or cuda:N, got {device!r}")
    return device


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cpu``, ``cuda`` or ``cuda:N`` as given."""
    if check_device(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrmError(f"device={device} but no CUDA device is available")
    return torch.device(device)


def cpu_has_fast_bf16() -> bool:
    """This CPU has bf16 matrix units (AMX tiles or AVX-512 BF16): bf16 products run several
    times the float32 rate there, and slower than float32 elsewhere."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without the probes: assume not
        return False


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` (``auto``, ``fp32``, ``bf16``) runs bf16 autocast on ``device``:
    ``auto`` is bf16 on CUDA and on CPUs with fast bf16, float32 elsewhere."""
    if check_precision(precision) == "auto":
        return device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())
    return precision == "bf16"


def inference_runtime(
    device: str | torch.device = "auto", precision: str = DEFAULT_PRECISION
) -> Runtime:
    """The runtime of ``trm solve`` / ``trm eval``: one process, ``precision`` on ``device``."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    return Runtime(dev, bf16=use_bf16(precision, dev))


def setup_runtime(
    device: str = "auto", precision: str = DEFAULT_PRECISION, threads: int = 0
) -> Runtime:
    """Pick the device; under ``torchrun`` join the process group (NCCL on CUDA, gloo on CPU)."""
    if threads > 0:
        torch.set_num_threads(threads)
    if device in ("auto", "cpu") and not torch.cuda.is_available():
        keep_freed_memory()
    dev = pick_device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Runtime(dev, rank, world_size, bf16=use_bf16(precision, dev))


def teardown_runtime() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --- collectives (no-ops on one process) ---------------------------------------------------


def any_rank(flag: torch.Tensor, rt: Runtime) -> bool:
    """True on every rank when ``flag`` is set on any rank (a collective under DDP)."""
    if rt.world_size == 1:
        return bool(flag)
    v = flag.to(torch.int32).reshape(1)
    dist.all_reduce(v, op=dist.ReduceOp.MAX)
    return bool(v.item())


def gather_objects(obj: list, rt: Runtime) -> list:
    """Objects of every rank, in rank order (a single-element list on one process)."""
    if rt.world_size == 1:
        return obj
    out = [None] * rt.world_size
    torch.distributed.all_gather_object(out, obj[0])
    return out


def all_reduce_sums(sums: dict[str, torch.Tensor], rt: Runtime) -> dict[str, float]:
    """Device sums added over ranks, as floats by name."""
    keys = sorted(sums)
    vec = torch.stack([sums[k].float() for k in keys])
    if rt.world_size > 1:
        torch.distributed.all_reduce(vec)
    return dict(zip(keys, vec.tolist()))


def on_main(rt: Runtime, fn: Callable[[], T]) -> T | None:
    """``fn()`` on rank 0 only (its result there, None elsewhere); a ``TrmError`` it raises is
    raised on every rank, so that no rank waits for a rank that gave up (a collective)."""
    result, error = None, None
    if rt.is_main:
        try:
            result = fn()
        except TrmError as e:
            error = str(e)
    error = gather_objects([error], rt)[0]
    if error is not None:
        raise TrmError(error)
    return result
