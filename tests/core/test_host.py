"""The host fingerprint and its class (greenbench.core.host): parsed from /proc/cpuinfo text, recorded in
every output's provenance, never guessed where the host does not say."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from greenbench.core import host, io, provenance

_COMMON = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht "
    "syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid pni pclmulqdq ssse3 "
    "fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm "
    "3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma "
    "clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves"
)


def _cpuinfo(vendor: str, model: str, family: int, flags: str, cpus: int = 2) -> str:
    block = (
        f"processor\t: {{n}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: 143\n"
        f"model name\t: {model}\nstepping\t: 8\ncpu MHz\t\t: 2000.000\ncache size\t: 107520 KB\n"
        f"flags\t\t: {flags}\nbogomips\t: 4000.00\n\n"
    )
    return "".join(block.format(n=n) for n in range(cpus))


SAPPHIRE_RAPIDS = _cpuinfo(
    "GenuineIntel",
    "Intel(R) Xeon(R) Platinum 8480+",
    6,
    flags=_COMMON + " avx_vnni avx512_bf16 avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq "
    "avx512_vnni avx512_bitalg tme avx512_vpopcntdq la57 rdpid cldemote movdiri movdir64b enqcmd fsrm md_clear "
    "serialize tsxldtrk pconfig arch_lbr amx_bf16 avx512_fp16 amx_tile amx_int8 flush_l1d arch_capabilities",
)
ICE_LAKE = _cpuinfo(
    "GenuineIntel",
    "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
    6,
    flags=_COMMON + " avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg "
    "tme avx512_vpopcntdq rdpid md_clear flush_l1d arch_capabilities",
)
EPYC_ZEN4 = _cpuinfo(
    "AuthenticAMD",
    "AMD EPYC 9654 96-Core Processor",
    25,
    flags=_COMMON + " avx512_bf16 clzero xsaveerptr wbnoinvd arat npt nrip_save avx512vbmi umip pku ospke "
    "avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm",
)
GRAVITON = (
    "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
    "fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    "CPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n"
)

NO_GPU = (None, None, 0)


def _fp(cpuinfo, machine="x86_64", gpu=NO_GPU, threads=2, rapl=False):
    return host.fingerprint(threads, cpuinfo=cpuinfo, machine=machine, rapl=rapl, gpu=gpu)


@pytest.mark.parametrize(
    "text,vendor,model,isa,cls",
    [
        (
            SAPPHIRE_RAPIDS,
            "intel",
            "Intel(R) Xeon(R) Platinum 8480+",
            {"amx": True, "avx512_bf16": True, "avx512_vnni": True, "avx2": True},
            "Intel with AMX",
        ),
        (
            ICE_LAKE,
            "intel",
            "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
            {"amx": False, "avx512_bf16": False, "avx512_vnni": True, "avx2": True},
            "Intel without AMX (AVX512-VNNI)",
        ),
        (
            EPYC_ZEN4,
            "amd",
            "AMD EPYC 9654 96-Core Processor",
            {"amx": False, "avx512_bf16": True, "avx512_vnni": True, "avx2": True},
            "AMD without AMX (AVX512-BF16, VNNI)",
        ),
    ],
)
def test_cpuinfo_fixtures_give_vendor_model_isa_and_class(text, vendor, model, isa, cls):
    parsed = host.parse_cpuinfo(text, "x86_64")
    assert parsed == {"cpu_model": model, "cpu_vendor": vendor, "isa": isa}
    fp = _fp(text)
    assert host.host_class(fp) == cls
    assert host.host_class(_fp(text, gpu=("NVIDIA H100 80GB HBM3", "550.54.15", 1))) == cls + " + NVIDIA H100 80GB HBM3"


def test_the_fingerprint_records_cores_threads_rapl_and_gpu():
    fp = _fp(EPYC_ZEN4, gpu=("NVIDIA H100 80GB HBM3", "550.54.15", 1), threads=4, rapl=True)
    assert fp["threads"] == 4 and fp["rapl_readable"] is True and fp["logical_cores"] >= 1
    assert (fp["gpu_model"], fp["gpu_driver"], fp["gpu_count"]) == ("NVIDIA H100 80GB HBM3", "550.54.15", 1)
    assert json.loads(json.dumps(fp)) == fp  # goes into Parquet metadata as JSON
    assert host.describe(fp) == "AMD without AMX (AVX512-BF16, VNNI) + NVIDIA H100 80GB HBM3; 4 threads; RAPL readable"
    assert host.describe({**fp, "threads": None, "rapl_readable": False}).endswith(
        "threads not recorded; RAPL not readable"
    )


def test_arm_and_missing_cpuinfo_are_said_not_guessed():
    arm = host.parse_cpuinfo(GRAVITON, "aarch64")
    assert arm["cpu_vendor"] == "arm" and not any(arm["isa"].values())  # x86 extensions: knowably absent
    assert host.host_class(_fp(GRAVITON, machine="aarch64")) == "ARM"
    assert host.host_class(_fp(None, machine="arm64")) == "ARM"  # e.g. macOS on Apple silicon
    missing = host.parse_cpuinfo(None, "x86_64")
    assert missing == {"cpu_model": None, "cpu_vendor": "unknown", "isa": dict.fromkeys(host.ISA, "unknown")}
    assert host.host_class(_fp(None)) == "Unknown CPU, ISA unknown"
    no_flags = host.parse_cpuinfo("vendor_id\t: GenuineIntel\nmodel name\t: Some Xeon\n", "x86_64")
    assert no_flags["isa"]["amx"] == "unknown" and host.host_class({**no_flags}) == "Intel, ISA unknown"
    assert host.parse_cpuinfo("vendor_id : HygonGenuine\nflags : avx2\n")["cpu_vendor"] == "other"


def test_fingerprint_off_linux_reads_no_cpuinfo(monkeypatch):
    monkeypatch.setattr(host.platform, "system", lambda: "Windows")
    fp = host.fingerprint(rapl=False, gpu=NO_GPU, machine="AMD64")
    assert fp["isa"] == dict.fromkeys(host.ISA, "unknown") and fp["cpu_model"] is None and fp["system"] == "Windows"
    assert "AMX" not in host.host_class(fp).replace("ISA unknown", "")


_FLAGS = (
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "avx512_bf16",
    "avx512_vnni",
    "avx_vnni",
    "avx2",
    "avx512f",
    "sse4_2",
    "avx512_fp16",
)


@settings(max_examples=200, deadline=None)
@given(
    flags=st.sets(st.sampled_from(_FLAGS)),
    vendor=st.sampled_from(["GenuineIntel", "AuthenticAMD", "HygonGenuine"]),
    gpu=st.sampled_from([None, "NVIDIA A100-SXM4-40GB"]),
)
def test_host_class_is_stable_and_never_claims_amx_without_the_flag(flags, vendor, gpu):
    text = f"vendor_id\t: {vendor}\nmodel name\t: x\nflags\t\t: {' '.join(sorted(flags))}\n"
    gpu_info = (gpu, "1" if gpu else None, int(bool(gpu)))
    fp = _fp(text, gpu=gpu_info)
    cls = host.host_class(fp)
    assert cls == host.host_class(json.loads(json.dumps(fp))) == host.host_class(_fp(text, gpu=gpu_info))
    claims_amx = "with AMX" in cls
    assert claims_amx == ("amx_tile" in flags and bool({"amx_bf16", "amx_int8"} & flags))
    if "amx_tile" not in flags:
        assert not claims_amx and "without AMX" in cls
    assert ("AVX512-BF16" in cls) == ("avx512_bf16" in flags and not claims_amx)
    assert cls.endswith(f" + {gpu}") == bool(gpu)


@pytest.mark.parametrize(
    "isa",
    [
        {"amx": "unknown"},
        {},
        {"amx": None, "avx512_bf16": True, "avx512_vnni": True, "avx2": True},
        {"amx": "yes", "avx512_bf16": True, "avx512_vnni": True, "avx2": True},
    ],
)
def test_an_amx_field_other_than_true_never_reads_as_amx(isa):
    assert "with AMX" not in host.host_class({"cpu_vendor": "intel", "isa": isa})


def test_rapl_readable_only_where_a_counter_reads(tmp_path):
    assert host.rapl_readable(str(tmp_path)) is False  # no zones
    (tmp_path / "intel-rapl:0" / "energy_uj").mkdir(parents=True)  # a zone whose counter cannot be read
    assert host.rapl_readable(str(tmp_path)) is False
    (tmp_path / "intel-rapl:1").mkdir()
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("123456\n")
    assert host.rapl_readable(str(tmp_path)) is True


class _FakeNvml(types.ModuleType):
    def __init__(self, fail=False):
        super().__init__("pynvml")
        self.fail, self.shutdowns = fail, 0

    def nvmlInit(self):
        if self.fail:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return 1

    def nvmlDeviceGetName(self, handle):
        return [b"NVIDIA H100 80GB HBM3", "NVIDIA H200"][handle]

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"


@pytest.fixture
def fresh_gpu_info():
    host.gpu_info.cache_clear()
    yield
    host.gpu_info.cache_clear()


def test_gpu_model_and_driver_from_nvml_else_none(monkeypatch, fresh_gpu_info):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert host.gpu_info() == ("NVIDIA H100 80GB HBM3", "550.54.15", 2) and fake.shutdowns == 1
    host.gpu_info.cache_clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-5a1b")  # the device the job sees, not NVML's first
    assert host.gpu_info()[0] == "NVIDIA H200"
    host.gpu_info.cache_clear()
    monkeypatch.setitem(sys.modules, "pynvml", _FakeNvml(fail=True))  # no driver
    assert host.gpu_info() == (None, None, 0)
    host.gpu_info.cache_clear()
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: import raises ImportError
    assert host.gpu_info() == (None, None, 0)


def test_fingerprint_survives_no_cpuinfo_no_powercap_no_pynvml(monkeypatch, fresh_gpu_info):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(host, "_read_cpuinfo", lambda path="/proc/cpuinfo": None)
    monkeypatch.setattr(host, "rapl_readable", lambda root="/sys/class/powercap": False)
    fp = host.fingerprint()
    assert fp["gpu_model"] is None and fp["gpu_driver"] is None and fp["rapl_readable"] is False
    assert fp["cpu_model"] is None and set(fp["isa"]) == set(host.ISA)
    assert isinstance(host.host_class(fp), str)


def test_every_provenance_record_carries_the_fingerprint_and_class(tmp_path):
    record = provenance.collect({"a": 1}, threads=3, device="cpu")
    assert {"git_commit", "versions", "host", "platform", "processor", "config_hash", "threads", "device"} <= set(
        record
    )
    assert record["host_fingerprint"]["threads"] == 3 and record["threads"] == 3
    assert record["host_class"] == host.host_class(record["host_fingerprint"])
    schema = pa.schema([("x", pa.int64())])
    trial = io.write_parquet(pd.DataFrame({"x": [1]}), tmp_path / "trial.parquet", schema, record)
    combined = io.write_parquet(
        pd.DataFrame({"x": [1]}),
        tmp_path / "all.parquet",
        schema,
        {"files": [str(trial)], "provenance": [io.read_metadata(trial), io.read_metadata(trial)]},
    )
    found = host.recorded(io.read_metadata(combined))
    assert len(found) == 1 and found[0]["host_fingerprint"] == json.loads(json.dumps(record["host_fingerprint"]))
    assert host.recorded({"files": []}) == []


def test_the_fingerprint_imports_neither_torch_nor_fails_without_it():
    code = (
        "import sys; from greenbench.core import host, provenance; r = provenance.collect(); "
        "print('torch' in sys.modules, r['host_fingerprint']['threads'], bool(r['host_class']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["False", "None", "True"], result.stdout + result.stderr
