"""The host a number was measured on, as a class a reader can match against their own machine.

``fingerprint()`` records the CPU model and vendor, the ISA features that decide which kernels run
(AMX, AVX512-BF16, AVX512-VNNI, AVX2), logical cores and the threads used, whether RAPL is readable, and
the GPU model and driver; ``host_class()`` turns it into a short class such as "Intel with AMX" or
"AMD without AMX (AVX512-BF16, VNNI) + NVIDIA H100 80GB HBM3". Pure standard library: torch is looked at
only when already imported, pynvml only when installed, and nothing here fails on a host that has
neither, nor a /proc/cpuinfo (fields become None, ISA flags "unknown": never guessed).
"""

from __future__ import annotations

import glob
import os
import platform
import sys
from functools import lru_cache
from typing import Any, Mapping

UNKNOWN = "unknown"
ISA = ("amx", "avx512_bf16", "avx512_vnni", "avx2")
_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}
_ARM_MACHINES = ("aarch64", "arm64", "armv")
_X86_MACHINES = ("x86_64", "amd64", "i386", "i686", "x86")
_NAMES = {"intel": "Intel", "amd": "AMD", "arm": "ARM", "other": "Other CPU"}


def _is(machine: str, prefixes: tuple[str, ...]) -> bool:
    return machine.lower().startswith(prefixes)


def isa_from_flags(flags: set[str]) -> dict[str, bool]:
    """The kernel-deciding features from /proc/cpuinfo's ``flags`` (AMX: a tile unit with BF16 or INT8)."""
    return {
        "amx": "amx_tile" in flags and bool({"amx_bf16", "amx_int8"} & flags),
        "avx512_bf16": "avx512_bf16" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "avx2": "avx2" in flags,
    }


def parse_cpuinfo(text: str | None, machine: str = "") -> dict[str, Any]:
    """CPU model, vendor (intel/amd/arm/other) and ISA flags from the text of /proc/cpuinfo.

    The first processor's block decides (the flags are the same on every core of one host). Without
    the text, or without a ``flags`` line on x86, each ISA flag is "unknown"; on ARM they are False
    (x86 extensions). ``machine`` (``platform.machine()``) is the fallback for the vendor."""
    fields: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key and key not in fields:
            fields[key] = value.strip()
    vendor_id = fields.get("vendor_id", "")
    arm = _is(machine, _ARM_MACHINES) or "cpu implementer" in fields
    if vendor_id:
        vendor = _VENDORS.get(vendor_id, "other")
    elif arm:
        vendor = "arm"
    elif _is(machine, _X86_MACHINES):
        vendor = UNKNOWN
    else:
        vendor = "other" if machine else UNKNOWN
    model = fields.get("model name") or fields.get("hardware") or None
    if "flags" in fields:
        isa: dict[str, Any] = isa_from_flags(set(fields["flags"].split()))
    elif vendor == "arm":
        isa = dict.fromkeys(ISA, False)
    else:
        isa = dict.fromkeys(ISA, UNKNOWN)
    return {"cpu_model": model, "cpu_vendor": vendor, "isa": isa}


def rapl_readable(root: str = "/sys/class/powercap") -> bool:
    """Whether this user can read a RAPL zone's energy counter (what ``RaplMeter`` needs to measure;
    root-only by default since Linux 5.10). False where there is no powercap tree."""
    for zone in sorted(glob.glob(os.path.join(root, "intel-rapl:*"))):
        try:
            with open(os.path.join(zone, "energy_uj")) as handle:
                int(handle.read())
            return True
        except (OSError, ValueError):
            continue
    return False


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@lru_cache(maxsize=1)
def gpu_info() -> tuple[str | None, str | None, int]:
    """(model, driver, count) of the NVIDIA GPUs NVML sees; (None, None, 0) without pynvml or a device.

    The model is the first device ``CUDA_VISIBLE_DEVICES`` names (by index or UUID), else device 0."""
    try:
        import pynvml
    except Exception:
        return None, None, 0
    try:
        pynvml.nvmlInit()
    except Exception:
        return None, None, 0
    try:
        count = int(pynvml.nvmlDeviceGetCount())
        if count == 0:
            return None, None, 0
        first = (os.environ.get("CUDA_VISIBLE_DEVICES") or "").split(",")[0].strip()
        handle = None
        try:
            if first.startswith(("GPU-", "MIG-")):
                try:
                    handle = pynvml.nvmlDeviceGetHandleByUUID(first)
                except Exception:  # older pynvml takes bytes
                    handle = pynvml.nvmlDeviceGetHandleByUUID(first.encode())
            elif first.isdigit() and int(first) < count:
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(first))
        except Exception:
            handle = None
        if handle is None:
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        model = _text(pynvml.nvmlDeviceGetName(handle))
        try:
            driver: str | None = _text(pynvml.nvmlSystemGetDriverVersion())
        except Exception:
            driver = None
        return model, driver, count
    except Exception:
        return None, None, 0
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


@lru_cache(maxsize=1)
def _read_cpuinfo(path: str = "/proc/cpuinfo") -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")  # never imported here: only a process that already uses torch
    try:
        return int(torch.get_num_threads()) if torch is not None else None
    except Exception:
        return None


_READ = "read"  # fingerprint(cpuinfo=...) default: read /proc/cpuinfo (on Linux)


def fingerprint(
    threads: int | None = None,
    *,
    cpuinfo: str | None = _READ,
    machine: str | None = None,
    rapl: bool | None = None,
    gpu: tuple[str | None, str | None, int] | None = None,
) -> dict[str, Any]:
    """This host's fingerprint. ``threads``: the threads the work used (default: torch's, when torch is
    already imported, else None). The keyword arguments replace what would be read (for tests; ``cpuinfo=None``:
    a host without /proc/cpuinfo)."""
    machine = platform.machine() if machine is None else machine
    if cpuinfo is _READ:
        cpuinfo = _read_cpuinfo() if platform.system() == "Linux" else None
    model, driver, count = gpu_info() if gpu is None else gpu
    return {
        **parse_cpuinfo(cpuinfo, machine),
        "machine": machine or None,
        "system": platform.system() or None,
        "logical_cores": os.cpu_count(),
        "threads": _torch_threads() if threads is None else int(threads),
        "rapl_readable": rapl_readable() if rapl is None else bool(rapl),
        "gpu_model": model,
        "gpu_driver": driver,
        "gpu_count": count,
    }


def cpu_isa(cpuinfo: str | None = _READ, machine: str | None = None) -> dict[str, Any]:
    """This CPU's vendor and kernel-deciding ISA flags (``parse_cpuinfo`` of /proc/cpuinfo; the keyword
    arguments replace what would be read, for tests)."""
    machine = platform.machine() if machine is None else machine
    if cpuinfo is _READ:
        cpuinfo = _read_cpuinfo() if platform.system() == "Linux" else None
    parsed = parse_cpuinfo(cpuinfo, machine)
    return {"cpu_vendor": parsed["cpu_vendor"], **parsed["isa"]}


def features(isa: Mapping[str, Any]) -> str:
    """The kernel-deciding AVX features short of AMX: ``AVX512-BF16, VNNI``, one of them, ``AVX2`` or ``no AVX2``."""
    bf16, vnni = isa.get("avx512_bf16") is True, isa.get("avx512_vnni") is True
    if bf16 and vnni:
        return "AVX512-BF16, VNNI"
    if bf16 or vnni:
        return "AVX512-BF16" if bf16 else "AVX512-VNNI"
    return "AVX2" if isa.get("avx2") is True else "no AVX2"


def host_class(fp: Mapping[str, Any]) -> str:
    """A short human class, deterministic from the fingerprint; AMX is claimed only when recorded True."""
    vendor = fp.get("cpu_vendor") or UNKNOWN
    isa = fp.get("isa") or {}
    if vendor == "arm":
        cpu = "ARM"
    else:
        name = _NAMES.get(vendor, "Unknown CPU")
        if any(isa.get(k) not in (True, False) for k in ISA):
            cpu = f"{name}, ISA unknown"
        elif isa["amx"] is True:
            cpu = f"{name} with AMX"
        else:
            cpu = f"{name} without AMX ({features(isa)})"
    return f"{cpu} + {fp['gpu_model']}" if fp.get("gpu_model") else cpu


def recorded(metadata: Any) -> list[dict[str, Any]]:
    """Every provenance record with a host fingerprint in a Parquet file's metadata (a record, or the
    records a combined table lists under ``provenance``), in order, each once."""
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("host_fingerprint"), Mapping):
                if node not in out:
                    out.append(dict(node))
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(metadata)
    return out


def describe(fp: Mapping[str, Any]) -> str:
    """ "AMD without AMX (AVX512-BF16, VNNI); 2 threads; RAPL not readable": the class, threads and RAPL."""
    threads = fp.get("threads")
    parts = [host_class(fp), f"{threads} thread{'s' if threads != 1 else ''}" if threads else "threads not recorded"]
    parts.append("RAPL readable" if fp.get("rapl_readable") else "RAPL not readable")
    return "; ".join(parts)


__all__ = [
    "ISA",
    "UNKNOWN",
    "describe",
    "features",
    "fingerprint",
    "gpu_info",
    "host_class",
    "isa_from_flags",
    "parse_cpuinfo",
    "rapl_readable",
    "recorded",
]
