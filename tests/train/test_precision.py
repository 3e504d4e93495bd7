"""The precision policy: request validation, CPU flag parsing, the cached probe, the `auto`
decision, the record in config.json, and that bf16 autocast trains tiny nets as well as fp32."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tamrin import config as C
from tamrin.errors import ConfigError
from tamrin.train import device as D
from tamrin.train.optim import TrainConfig

CPU = torch.device("cpu")

CPUINFO_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
CPUINFO_AVX2 = """processor\t: 0
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma
"""
CPUINFO_ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd sve bf16 i8mm
CPU implementer\t: 0x41
"""

AMX = D.parse_cpuinfo(CPUINFO_AMX)
AVX2 = D.parse_cpuinfo(CPUINFO_AVX2)


def _probe(matmul: float, conv: float):
    """A fake probe returning the given speedups, counting its calls."""

    def probe() -> dict[str, float]:
        probe.calls += 1  # type: ignore[attr-defined]
        return {"matmul_speedup": matmul, "conv_speedup": conv}

    probe.calls = 0  # type: ignore[attr-defined]
    return probe


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own probe cache (never the real ~/.cache) and a fresh memo."""
    monkeypatch.setenv("TAMRIN_CACHE", str(tmp_path / "cache"))
    D.clear_precision_memo()
    yield
    D.clear_precision_memo()


# --- requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["fp16", "BF16", "", "float32"])
def test_bad_request_is_a_config_error_listing_the_allowed(bad: str) -> None:
    with pytest.raises(ConfigError, match="auto, fp32, bf16") as exc:
        D.resolve_precision(bad, CPU)
    assert repr(bad) in str(exc.value)
    with pytest.raises(ConfigError, match=r"train\.precision"):
        TrainConfig(precision=bad).validate()  # type: ignore[arg-type]


def test_config_layer_rejects_a_bad_set_value() -> None:
    with pytest.raises(ConfigError, match="precision"):
        C.from_dict(TrainConfig, {"precision": "fp16"})
    assert C.from_dict(TrainConfig, {"precision": "bf16"}).precision == "bf16"
    assert TrainConfig().precision == "auto"


def test_fp32_is_no_autocast_and_measures_nothing(tmp_path: Path) -> None:
    p = D.resolve_precision("fp32", CPU)
    assert (p.name, p.dtype, p.request) == ("fp32", None, "fp32")
    assert p.record() == {"request": "fp32", "name": "fp32", "reason": "requested fp32"}
    assert not (tmp_path / "cache").exists()  # no probe ran


def test_cli_precision_is_sugar_for_set() -> None:
    from tamrin.cli import build_parser

    args = build_parser().parse_args(
        ["run", "cifar10-lenet", "--set", "train.epochs=1", "--precision", "bf16"]
    )
    assert C.parse_set_args(args.set) == {"train.epochs": 1, "train.precision": "bf16"}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "cifar10-lenet", "--precision", "fp16"])


# --- CPU facts -----------------------------------------------------------------------------------


def test_cpuinfo_parsing() -> None:
    assert AMX.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"amx_bf16", "avx512_bf16", "avx2"} <= AMX.flags
    assert AMX.bf16_flags == ["amx_bf16", "avx512_bf16"]
    assert AVX2.model == "AMD EPYC 7B12" and "avx2" in AVX2.flags
    assert AVX2.bf16_flags == []
    arm = D.parse_cpuinfo(CPUINFO_ARM)
    assert arm.bf16_flags == ["bf16"]
    assert D.parse_cpuinfo("").flags == frozenset()


def test_unreadable_cpuinfo_means_no_flags(tmp_path: Path) -> None:
    assert D.read_cpuinfo(tmp_path / "missing").flags == frozenset()
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO_AMX)
    assert D.read_cpuinfo(path) == AMX


# --- the decision --------------------------------------------------------------------------------


def test_auto_is_fp32_without_bf16_instructions_whatever_the_probe() -> None:
    probe = _probe(9.0, 9.0)
    p = D.choose_cpu_precision("auto", AVX2, probe)
    assert (p.name, p.dtype) == ("fp32", None)
    assert "lacks avx512_bf16/amx_bf16" in p.reason and "emulated" in p.reason
    assert probe.calls == 0  # type: ignore[attr-defined]


def test_auto_follows_the_probe_where_the_instructions_exist() -> None:
    fast = D.choose_cpu_precision("auto", AMX, _probe(7.9, 1.6))
    assert (fast.name, fast.dtype) == ("bf16", torch.bfloat16)
    assert "amx_bf16" in fast.reason and "1.6x" in fast.reason  # the smaller speedup counts
    slow = D.choose_cpu_precision("auto", AMX, _probe(7.9, 1.1))
    assert (slow.name, slow.dtype) == ("fp32", None)
    assert "1.10x" in slow.reason and "< 1.2x" in slow.reason


def test_model_kind_picks_the_probe_that_matters() -> None:
    probe = _probe(3.0, 1.05)  # matmul much faster, conv not
    assert D.choose_cpu_precision("auto", AMX, probe, model_kind="mlp").name == "bf16"
    assert D.choose_cpu_precision("auto", AMX, probe, model_kind="transformer").name == "bf16"
    assert D.choose_cpu_precision("auto", AMX, probe, model_kind="lenet").name == "fp32"
    assert D.choose_cpu_precision("auto", AMX, probe).name == "fp32"


def test_bf16_requested_without_instructions_is_allowed_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="emulated"):
        p = D.choose_cpu_precision("bf16", AVX2, _probe(0.5, 0.5))
    assert (p.name, p.dtype) == ("bf16", torch.bfloat16)
    assert "emulated" in p.reason
    native = D.choose_cpu_precision("bf16", AMX, _probe(0.5, 0.5))  # no probe for explicit bf16
    assert native.dtype == torch.bfloat16 and "native" in native.reason


# --- the cache -----------------------------------------------------------------------------------


def test_probe_is_cached_once_and_read_back(tmp_path: Path) -> None:
    path = D.probe_cache_path()
    assert path == tmp_path / "cache" / "precision-probe.json"
    probe = _probe(4.0, 1.5)
    first = D.cached_probe(AMX, 2, probe=probe)
    again = D.cached_probe(AMX, 2, probe=probe)
    assert probe.calls == 1  # type: ignore[attr-defined]
    assert again["matmul_speedup"] == first["matmul_speedup"] == 4.0
    stored = json.loads(path.read_text())
    assert list(stored) == [D.probe_key(AMX, 2)]
    key = D.probe_key(AMX, 2)
    assert "Platinum 8480+" in key and "amx_bf16" in key and torch.__version__ in key
    D.cached_probe(AMX, 1, probe=probe)  # another thread count: another entry
    D.cached_probe(AVX2, 2, probe=probe)  # another CPU: another entry
    assert probe.calls == 3 and len(json.loads(path.read_text())) == 3  # type: ignore[attr-defined]


def test_damaged_cache_is_remeasured_and_rewritten() -> None:
    path = D.probe_cache_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    probe = _probe(2.0, 2.0)
    assert D.cached_probe(AMX, 2, probe=probe)["conv_speedup"] == 2.0
    assert probe.calls == 1  # type: ignore[attr-defined]
    assert D.probe_key(AMX, 2) in json.loads(path.read_text())


def test_cache_location_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAMRIN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert D.probe_cache_path() == tmp_path / "xdg" / "tamrin" / "precision-probe.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.probe_cache_path() == tmp_path / "home" / ".cache" / "tamrin" / "precision-probe.json"


def test_resolve_is_memoized_and_uses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    probe = _probe(5.0, 1.8)
    monkeypatch.setattr(D, "read_cpuinfo", lambda: reads.append(1) or AMX)
    monkeypatch.setattr(D, "probe_bf16", probe)
    first = D.resolve_precision("auto", CPU)
    assert first is D.resolve_precision("auto", CPU)  # memoized: same object, no new work
    assert (first.name, len(reads), probe.calls) == ("bf16", 1, 1)  # type: ignore[attr-defined]
    D.clear_precision_memo()  # a new process: reads the cache file, does not re-measure
    assert D.resolve_precision("auto", CPU) == first
    assert probe.calls == 1  # type: ignore[attr-defined]
    assert (tmp_path / "cache" / "precision-probe.json").exists()


def test_real_probe_is_quick_and_leaves_rng_and_threads_alone() -> None:
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    result = D.probe_bf16()
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    for op in ("matmul", "conv"):
        assert result[f"{op}_fp32_ms"] > 0 and result[f"{op}_bf16_ms"] > 0
        assert result[f"{op}_speedup"] == pytest.approx(
            result[f"{op}_fp32_ms"] / result[f"{op}_bf16_ms"]
        )


# --- the record in config.json -------------------------------------------------------------------


def test_run_records_the_resolved_precision(tiny_data: Path, tmp_path: Path) -> None:
    from tamrin import runner

    result = runner.run(
        "cifar10-lenet",
        {"train.precision": "fp32", "train.epochs": 1},
        smoke=True,
        out=tmp_path / "runs",
        quiet=True,
    )
    meta = json.loads((result.run_dir / "config.json").read_text())  # type: ignore[union-attr]
    assert meta["precision"] == {
        "request": "fp32",
        "name": "fp32",
        "reason": "requested fp32",
        "scope": "run",  # decided by the first fit (tasks.training.run_precision)
    }


# --- accuracy at smoke scale ---------------------------------------------------------------------

TOLERANCE = 0.03  # bf16 may lose at most 3 accuracy points (measured: within 0.3 of fp32)


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """4 Gaussian blobs in 32-d, centres ±1, noise 2.0: fp32 reaches ~93 %, not 100 %."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.sign(torch.randn(4, 32, generator=torch.Generator().manual_seed(0)))
    y = torch.randint(0, 4, (n,), generator=g)
    return centres[y] + 2.0 * torch.randn(n, 32, generator=g), y


def _patterns(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 12, 12) images: class k brightens quadrant k by 1, under noise 2.0 (fp32 ~94 %)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, 1, 12, 12, generator=g) * 2.0
    for k in range(4):
        r, c = divmod(k, 2)
        x[y == k, :, r * 6 : r * 6 + 6, c * 6 : c * 6 + 6] += 1.0
    return x, y


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)
    )


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 4),
    )


def _train_and_score(build, data, dtype: torch.dtype | None, steps: int = 60) -> float:
    """Accuracy on held-out data after `steps` SGD steps under autocast `dtype` (None = fp32)."""
    torch.manual_seed(0)
    model = build()
    x, y = data(1024, seed=1)
    x_test, y_test = data(512, seed=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for i in range(steps):
        idx = slice((i * 64) % 1024, (i * 64) % 1024 + 64)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            logits = model(x[idx])  # (64, 4)
            assert logits.dtype == (dtype or torch.float32)  # autocast really on (or off)
            loss = F.cross_entropy(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
        pred = model(x_test).argmax(1)
    return (pred == y_test).float().mean().item()


@pytest.mark.parametrize(("build", "data"), [(_mlp, _blobs), (_cnn, _patterns)], ids=["mlp", "cnn"])
def test_bf16_autocast_trains_as_well_as_fp32(build, data) -> None:
    fp32 = _train_and_score(build, data, None)
    bf16 = _train_and_score(build, data, torch.bfloat16)
    assert 0.85 < fp32 < 0.99, (
        f"the fp32 baseline is {fp32:.3f}: too hard or too easy to see a drop"
    )
    assert bf16 >= fp32 - TOLERANCE, f"bf16 {bf16:.3f} vs fp32 {fp32:.3f}"
