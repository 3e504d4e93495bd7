"""Pick the device (CUDA when present, else CPU with one thread per core) and the precision:
fp32 or bf16 autocast, chosen by `resolve_precision` from the hardware and a cached probe."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from tamrin.errors import ConfigError, DeviceError, did_you_mean
from tamrin.train.distributed import threads_per_rank, world_from_env

DeviceName = Literal["auto", "cpu", "cuda"]


def cpu_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without CUDA is a DeviceError.

    Under torchrun each process takes the GPU of its local rank, or its share of the cores.
    """
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise DeviceError(f"--device must be cpu, cuda or auto; got '{name}'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError(
            "--device cuda was asked for but CUDA is not available here; use --device cpu (or auto)"
        )
    world = world_from_env()
    if name == "cuda" and world.distributed:
        name = f"cuda:{world.local_rank}"  # torchrun: one GPU per process on each machine
    device = torch.device(name)
    if device.type == "cpu":
        torch.set_num_threads(threads_per_rank(cpu_cores(), world.local_size))
    return device


# --- precision policy ---------------------------------------------------------------------------
# One place decides fp32 vs bf16 autocast. CUDA: bf16 where the GPU does it natively. CPU: bf16
# only where the CPU has bf16 instructions (AMX / AVX-512 BF16; elsewhere it is emulated and slower)
# AND a short probe, cached per machine, measured it at least BF16_MIN_SPEEDUP faster than fp32.

PrecisionName = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")  # x86 AMX, x86 AVX-512 BF16, aarch64 BF16
KEY_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "bf16")  # in the cache key
BF16_MIN_SPEEDUP = 1.2  # auto picks bf16 on CPU only when the probe measured it this much faster
PROBE_VERSION = 1  # bump when the probe changes: old cache entries are then re-measured
PROBE_FILE = "precision-probe.json"
CPUINFO = Path("/proc/cpuinfo")
MATMUL_KINDS = ("mlp", "transformer", "attention", "bert", "vit", "memnet", "embedding")


@dataclass(frozen=True)
class Precision:
    """The resolved precision: `dtype` for autocast (None = plain fp32) and why it was chosen."""

    name: PrecisionName  # fp32 | bf16
    dtype: torch.dtype | None  # autocast dtype; None = fp32, no autocast
    reason: str  # one sentence: why this choice on this machine
    request: str = "auto"  # what was asked for: auto | fp32 | bf16

    def record(self) -> dict[str, str]:
        """What config.json keeps: request, name, reason."""
        return {"request": self.request, "name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU facts the policy needs: model name and instruction-set flags."""

    model: str
    flags: frozenset[str]

    @property
    def bf16_flags(self) -> list[str]:
        """The native-bf16 flags this CPU has (empty: bf16 would be emulated)."""
        return [f for f in BF16_FLAGS if f in self.flags]


def parse_cpuinfo(text: str) -> CpuInfo:
    """Model name and flags from /proc/cpuinfo text (x86 `flags`, aarch64 `Features`)."""
    model, flags = "", ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = value
    return CpuInfo(model or platform.processor() or "unknown", frozenset(flags.split()))


def read_cpuinfo(path: Path = CPUINFO) -> CpuInfo:
    """This machine's CpuInfo; no flags when the file cannot be read (not Linux)."""
    try:
        return parse_cpuinfo(path.read_text())
    except OSError:
        return CpuInfo(platform.processor() or "unknown", frozenset())


def machine() -> dict[str, Any]:
    """What a timing was measured on: CPU model, usable cores, the flags that set its speed
    (recorded in config.json and next to every benchmark figure)."""
    cpu = read_cpuinfo()
    return {
        "cpu": cpu.model,
        "cores": cpu_cores(),
        "flags": [f for f in KEY_FLAGS if f in cpu.flags],
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def probe_cache_path() -> Path:
    """Where probe results live: $TAMRIN_CACHE (as the data store), else XDG / ~/.cache/tamrin."""
    if os.environ.get("TAMRIN_CACHE"):
        folder = Path(os.environ["TAMRIN_CACHE"])
    elif os.environ.get("XDG_CACHE_HOME"):
        folder = Path(os.environ["XDG_CACHE_HOME"]) / "tamrin"
    else:
        folder = Path("~/.cache/tamrin")
    return folder.expanduser() / PROBE_FILE


def _paired_timing(fn: Callable[[], object], reps: int = 9, warmup: int = 2) -> dict[str, float]:
    """fp32 vs bf16-autocast wall times of `fn` in ms, interleaved so that load from other
    processes hits both alike; warm-up calls (kernel setup) discarded.

    The speedup is the ratio of the fastest calls: on a shared machine a median measures the
    neighbours (a 2-thread matmul waits for a descheduled thread: 0.6 ms best, 9 ms median,
    measured here), while the minimum measures what the hardware does. Medians are kept too.
    """

    def once(bf16: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3

    for _ in range(warmup):
        once(False), once(True)
    pairs = [(once(False), once(True)) for _ in range(reps)]
    fp32, bf16 = [p[0] for p in pairs], [p[1] for p in pairs]
    return {
        "fp32_ms": min(fp32),
        "bf16_ms": min(bf16),
        "fp32_median_ms": statistics.median(fp32),
        "bf16_median_ms": statistics.median(bf16),
        "speedup": min(fp32) / max(min(bf16), 1e-6),
    }


def probe_bf16() -> dict[str, float]:
    """Time fp32 vs bf16 autocast on CPU: a 512² matmul and a mid-sized conv forward+backward.

    Runs on one thread (~0.2 s): the ratio is a property of the core's instruction set, and on
    a shared machine a multi-threaded op stalls whenever one of its threads is descheduled
    (a 2-thread probe measured 0.66x..2.3x for the same matmul here; 1 thread: 3.6x..3.8x).
    Tensors come from a private generator, so the global RNG (and a seeded run) is untouched.
    Returns `<op>_fp32_ms`, `<op>_bf16_ms` (fastest), `<op>_*_median_ms`, `<op>_speedup`.
    """
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, 512, generator=g), torch.randn(512, 512, generator=g)
    x = torch.randn(32, 32, 16, 16, generator=g).contiguous(memory_format=torch.channels_last)
    w = (torch.randn(64, 32, 3, 3, generator=g) * 0.1).contiguous(memory_format=torch.channels_last)
    w.requires_grad_(True)

    def matmul() -> object:
        return a @ b  # (512, 512)

    def conv() -> object:
        with torch.enable_grad():
            out = torch.nn.functional.conv2d(x, w, padding=1)  # (32, 64, 16, 16) NHWC
            out.float().square().mean().backward()
        w.grad = None
        return out

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out: dict[str, float] = {}
        for name, fn in (("matmul", matmul), ("conv", conv)):
            for k, v in _paired_timing(fn).items():
                out[f"{name}_{k}"] = v
    finally:
        torch.set_num_threads(threads)
    return out


def probe_key(cpu: CpuInfo, threads: int) -> str:
    """Cache key: the CPU, its flags, torch and the run's thread count (the probe itself runs on
    one thread; a new thread count only costs a re-measurement)."""
    flags = ",".join(f for f in KEY_FLAGS if f in cpu.flags)
    return f"v{PROBE_VERSION}|{cpu.model}|{flags}|torch {torch.__version__}|threads {threads}"


def cached_probe(
    cpu: CpuInfo,
    threads: int,
    *,
    path: Path | None = None,
    probe: Callable[[], dict[str, float]] = probe_bf16,
) -> dict[str, float]:
    """The probe's result for this (CPU, torch, threads): from the cache file, else measured once
    and written there (atomically; a read-only or damaged cache only costs the re-measurement)."""
    path = path or probe_cache_path()
    key = probe_key(cpu, threads)
    entries = read_cache(path)
    hit = entries.get(key)
    if isinstance(hit, dict) and "matmul_speedup" in hit and "conv_speedup" in hit:
        return {k: float(v) for k, v in hit.items()}
    result = dict(probe())
    with contextlib.suppress(OSError, AttributeError):  # the load while measuring, for the record
        result["loadavg_1m"] = os.getloadavg()[0]
    entries[key] = result
    write_cache(path, entries)
    return result


def read_cache(path: Path) -> dict[str, Any]:
    """A JSON cache file's entries; empty when it is missing, unreadable or not a mapping."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def write_cache(path: Path, entries: Mapping[str, Any]) -> None:
    """Write a JSON cache atomically (temp file + rename); a read-only place is no error (it
    only costs a re-measurement next time). Shared by every probe's cache."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
        os.replace(tmp, path)


def check_precision(request: str) -> None:
    """ConfigError unless `request` is auto, fp32 or bf16."""
    if request not in PRECISIONS:
        allowed = ", ".join(PRECISIONS)
        raise ConfigError(
            f"train.precision must be one of {allowed}; got {request!r}"
            f"{did_you_mean(str(request), PRECISIONS)} (--precision auto|fp32|bf16)"
        )


def _probe_speedup(probe: Mapping[str, float], model_kind: str | None) -> tuple[float, str]:
    """The speedup that matters for `model_kind`: matmul for dense/attention nets, conv for conv
    nets, and the smaller of the two when the kind is not given (conservative)."""
    if model_kind is not None and any(k in model_kind.lower() for k in MATMUL_KINDS):
        return probe["matmul_speedup"], "matmul"
    if model_kind is not None:
        return probe["conv_speedup"], "conv"
    if probe["matmul_speedup"] <= probe["conv_speedup"]:
        return probe["matmul_speedup"], "matmul"
    return probe["conv_speedup"], "conv"


def choose_cpu_precision(
    request: str,
    cpu: CpuInfo,
    probe: Callable[[], Mapping[str, float]],
    *,
    model_kind: str | None = None,
) -> Precision:
    """The CPU policy as a pure function of the request, the CPU facts and a (cached) probe.

    The probe is called only for `auto` on a CPU with native bf16 instructions.
    """
    check_precision(request)
    native = cpu.bf16_flags
    if request == "fp32":
        return Precision("fp32", None, "requested fp32", request)
    if request == "bf16":
        if native:
            why = f"requested bf16; CPU has {'/'.join(native)} (native bf16)"
            return Precision("bf16", torch.bfloat16, why, request)
        why = "requested bf16; CPU lacks avx512_bf16/amx_bf16, so bf16 is emulated (likely slower)"
        warnings.warn(why, stacklevel=3)
        return Precision("bf16", torch.bfloat16, why, request)
    if not native:
        why = "auto: CPU lacks avx512_bf16/amx_bf16, bf16 would be emulated"
        return Precision("fp32", None, why, request)
    speedup, which = _probe_speedup(probe(), model_kind)
    has = "/".join(native)
    if speedup >= BF16_MIN_SPEEDUP:
        why = f"auto: CPU has {has} and the cached probe measured bf16 {which} {speedup:.1f}x fp32"
        return Precision("bf16", torch.bfloat16, why, request)
    why = (
        f"auto: CPU has {has} but the cached probe measured bf16 {which} only {speedup:.2f}x fp32"
        f" (< {BF16_MIN_SPEEDUP}x)"
    )
    return Precision("fp32", None, why, request)


def resolve_precision(
    request: str, device: torch.device, *, model_kind: str | None = None
) -> Precision:
    """fp32 or bf16 autocast for `request` (auto | fp32 | bf16) on `device`.

    CUDA: auto -> bf16 where the GPU supports it natively. CPU: see `choose_cpu_precision`; the
    probe runs once per machine (cached in `probe_cache_path()`) and the answer is memoized in
    the process, so every caller with the same arguments gets the same choice, cheaply.
    `model_kind` (e.g. the model arch) picks which probe counts: matmul (mlp, transformer...)
    or conv; None takes the smaller speedup. A bad `request` is a ConfigError.

    >>> resolve_precision("fp32", torch.device("cpu")).dtype is None
    True
    """
    check_precision(request)
    return _resolve_memo(request, str(device), model_kind, torch.get_num_threads())


@functools.lru_cache(maxsize=64)
def _resolve_memo(request: str, device: str, model_kind: str | None, threads: int) -> Precision:
    dev = torch.device(device)
    if dev.type == "cpu":
        cpu = read_cpuinfo()
        return choose_cpu_precision(
            request,
            cpu,
            lambda: cached_probe(cpu, threads, probe=probe_bf16),
            model_kind=model_kind,
        )
    if request == "fp32":
        return Precision("fp32", None, "requested fp32", request)
    if dev.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        if request == "auto":
            if native:
                return Precision("bf16", torch.bfloat16, "auto: the GPU supports bf16", request)
            return Precision("fp32", None, "auto: the GPU lacks native bf16", request)
        if not native:
            why = "requested bf16; the GPU lacks native bf16, so it is emulated (likely slower)"
            warnings.warn(why, stacklevel=3)
            return Precision("bf16", torch.bfloat16, why, request)
        return Precision("bf16", torch.bfloat16, "requested bf16; the GPU supports it", request)
    if request == "auto":
        return Precision("fp32", None, f"auto: no bf16 policy for {dev.type}, fp32", request)
    return Precision("bf16", torch.bfloat16, f"requested bf16 on {dev.type}", request)


def clear_precision_memo() -> None:
    """Forget the in-process answers (tests; the cache file is kept)."""
    _resolve_memo.cache_clear()
