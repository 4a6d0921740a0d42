"""Issue 17, second sweep: each class of malformed input a new user tried is refused before any job runs,
naming the config key or the file and line (configs as YAML text, traces as files, a bad mirror copy)."""

from __future__ import annotations

import gzip
import logging
import re
import shutil
from pathlib import Path

import pytest

from greenbench.carbon import traces
from greenbench.config.load import ConfigError, load_config, validate_config

from conftest import REPO

MIRROR = "carbon/electricitymaps_eco4cast"


def check(tmp_path, text: str):
    """The smoke study with ``text`` (a user's override file) on top, validated; the ConfigError's message."""
    override = tmp_path / "override.yaml"
    override.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    try:
        validate_config(load_config([REPO / "config" / "config.yaml", REPO / "config" / "smoke.yaml", override]))
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(
    "text, message",
    [
        # .nan and .inf pass every number bound of JSON schema (comparisons with nan are false)
        ("stats: {confidence: .nan}", "config key 'stats.confidence': nan is not a finite number"),
        ("carbon: {forecast: {interval_level: .nan}}", "'carbon.forecast.interval_level': nan is not a finite"),
        ("energy: {window_s: {cpu: .inf}}", "'energy.window_s.cpu': inf is not a finite"),
        ("carbon: {schedule: {pue: .NaN, slo_ms: .inf}}", "'carbon.schedule.slo_ms': inf"),
        ("footprint: {amortization: {inferences: [1000, .inf]}}", "'footprint.amortization.inferences[1]': inf"),
        ("stats: {grid_intensities: {DE: -.inf, FR: 61}}", "'stats.grid_intensities.DE': -inf"),
        (
            "carbon: {schedule: {scenarios: {eu: {origin_shares: {DE: .nan, GB: 1, FR: 0, ES: 0, PL: 0}}}}}",
            "'carbon.schedule.scenarios.eu.origin_shares.DE': nan",
        ),
        # windows that do not fit each other
        (
            "carbon: {schedule: {deferral_window_h: 500}}",
            "'carbon.schedule.deferral_window_h': 500 h needs forecasts 501 h",
        ),
        (
            "carbon: {forecast: {horizon_h: 168}, schedule: {deferral_window_h: 168}}",
            "'carbon.schedule.deferral_window_h'",
        ),
        (
            "carbon: {forecast: {interval_level: 0.99}}",
            "'carbon.forecast.calibration_days': 30 origins cannot resolve a 0.99",
        ),
        (
            "carbon: {forecast: {conformal_window_days: 10, interval_level: 0.95}}",
            "'carbon.forecast.conformal_window_days': 10 origins cannot resolve a 0.95",
        ),
        (
            "carbon: {forecast: {calibration_days: 12, horizon_h: 96, interval_level: 0.9}}",
            "'carbon.forecast.calibration_days': 12 days leave 8 origins",
        ),
        (
            "carbon: {forecast: {ridge_alpha: [30, 3, 3.0000001]}}",
            "'carbon.forecast.ridge_alpha': [30, 3, 3.0000001] gives two",
        ),
        (
            "carbon: {forecast: {train_stride_h: 100000}}",
            "'carbon.forecast.train_stride_h': 100000 h gives 0 training windows",
        ),
        ("carbon: {forecast: {train_start: '2021-12-01'}}", "'carbon.forecast.train_start': the fitting period"),
        # the energy trials' inputs and the lifecycle cell
        ("energy: {max_inputs: 3}", "'energy.max_inputs': 3 inputs cannot fill a batch of 8"),
        ("energy: {paddings: [fixed]}", "'footprint.amortization': its cell"),
        (
            "study: {variants: [int8_dynamic, fp16]}\ncarbon: {schedule: {energy: {j_per_request: 0.3, latency_p50_ms: 20, "
            "latency_p95_ms: 40}}}",
            "no the fp32 baseline",
        ),
        ("energy: {modes: [cuda_graph]}", "no eager mode (energy.modes)"),
        # models that cannot be loaded
        (
            "models: {minilm: {source: 'path:/nonexistent/model', finetune: true, max_length: 128}}",
            "'models.minilm.source': /nonexistent/model does not exist",
        ),
        (
            "models: {minilm: {source: 'hub:nobody-here/no-such-model', finetune: true, max_length: 128}}",
            "'models.minilm.source': 'nobody-here/no-such-model' is not in the Hugging Face cache",
        ),
        # duplicates that mean nothing
        (
            "variants: {adaptive: {tiers: {cpu: [fp32, fp32]}}}",
            "'variants.adaptive.tiers.cpu': the cheap and the precise",
        ),
        ("carbon: {schedule: {weights: [0.5, 0.5]}}", "'carbon.schedule.weights'"),
        # what YAML made of a value, said in the message
        ("carbon: {forecast: {train_start: 2021-01-01}}", "quote it, '2021-01-01'"),
        ("finetune: {learning_rate: 1e-4}", "write it with a dot, 0.0001"),
        ("study: {devices: cuda}", "(or a list: [cuda])"),
        ("compute: {threads: 2, shared_threads: 4}", "'compute.shared_threads': 4 is more than compute.threads (2)"),
        ("compute: {shared_threads: 0}", "'compute.shared_threads'"),
        (
            "carbon: {schedule: {energy: {j_per_request: 0.35, latency_p50_ms: 20}}}",
            "'carbon.schedule.energy.latency_p95_ms': required key is missing",
        ),
        # traces the run would not find
        ("carbon: {years: [2020, 2021, 2022]}", "'carbon.zones'/'carbon.years': no trace DE_2020_hourly.csv"),
        (
            "carbon: {zones: [DE, GB, FR, ES, pl], schedule: {scenarios: {all: {}}, origin_shares: {DE: 1, GB: 1, FR: 1, "
            "ES: 1, pl: 1}, latency_ms: {DE: {DE: 5, GB: 5, FR: 5, ES: 5, pl: 5}, GB: {DE: 5, GB: 5, FR: 5, ES: 5, pl: 5}, "
            "FR: {DE: 5, GB: 5, FR: 5, ES: 5, pl: 5}, ES: {DE: 5, GB: 5, FR: 5, ES: 5, pl: 5}, pl: {DE: 5, GB: 5, FR: 5, "
            "ES: 5, pl: 5}}}}",
            "no trace pl_2021_hourly.csv",
        ),
    ],
)
def test_a_malformed_config_is_refused_naming_its_key(tmp_path, monkeypatch, data_mirror, text, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.chdir(tmp_path)
    err = check(tmp_path, text)
    assert err is not None and message in err, err


@pytest.mark.parametrize(
    "text",
    [
        "carbon: {forecast: {interval_level: 0.9, calibration_days: 30}}",  # 10 origins suffice for 90%
        "energy: {max_inputs: 8}",
        "carbon: {forecast: {horizon_h: 96}, schedule: {deferral_window_h: 95}}",
    ],
)
def test_the_boundaries_of_those_rules_are_accepted(tmp_path, monkeypatch, data_mirror, text):
    monkeypatch.chdir(tmp_path)
    assert check(tmp_path, text) is None


def test_yaml_merge_keys_work_and_an_explicit_key_overrides_the_merged_one(tmp_path, data_mirror):
    assert check(tmp_path, "finetune:\n  <<: {epochs: 1, batch_size: 8}\n  batch_size: 16\n") is None
    cfg = load_config([tmp_path / "override.yaml"])
    assert cfg["finetune"] == {"epochs": 1, "batch_size": 16}


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    err = check(tmp_path, b"finetune:\n  epochs: 1   # caf\xe9\n")
    assert re.search(r"override\.yaml:2: not valid UTF-8 \(byte 0xe9: looks like Latin-1/Windows-1252", err), err
    assert "save it as UTF-8" in err


@pytest.mark.parametrize(
    "encode, words",
    [
        (lambda t: gzip.compress(t.encode()), "override.yaml: gzip-compressed, not text: gunzip it first"),
        (lambda t: t.encode("utf-16"), "override.yaml: looks like UTF-16 text (little-endian, byte order mark ff fe)"),
        (lambda t: t.encode("utf-16-be"), "override.yaml: looks like UTF-16 text (big-endian: a NUL byte every other"),
    ],
)
def test_a_config_in_another_encoding_is_one_line_naming_it(tmp_path, encode, words):
    err = check(tmp_path, encode("finetune:\n  epochs: 1\n"))
    assert err is not None and words in err and len(err.splitlines()) == 1, err


def test_a_config_with_a_byte_order_mark_is_read_and_said(tmp_path, data_mirror):
    assert check(tmp_path, b"\xef\xbb\xbffinetune:\n  epochs: 1\n") is None
    said: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: said.append(record.getMessage())
    logger = logging.getLogger("greenbench")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        assert load_config([tmp_path / "override.yaml"]) == {"finetune": {"epochs": 1}}
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert said == [f"{tmp_path / 'override.yaml'}: UTF-8 byte order mark (BOM) ignored"]


def test_a_test_end_too_late_for_the_horizon_names_the_latest_date(tmp_path, data_mirror):
    err = check(tmp_path, "carbon: {forecast: {test_end: '2022-12-31'}}")  # horizon 96 h, traces end 2023-01-01
    assert (
        "config key 'carbon.forecast.test_end': 2022-12-31 is too late: the last origin's 96 h forecast horizon "
        "runs past the traces" in err
    ), err
    assert "give test_end 2022-12-29 or earlier" in err
    assert check(tmp_path, "carbon: {forecast: {test_end: '2022-12-29'}}") is None


# ---- trace files: every row checked, the file and line named ------------------------------------------------


def mirror_with(tmp_path, data_mirror, zone="DE", year=2022, mutate=lambda lines: lines) -> Path:
    root = tmp_path / "mirror"
    (root / MIRROR).mkdir(parents=True)
    name = f"{zone}_{year}_hourly.csv"
    lines = (data_mirror / MIRROR / name).read_text(encoding="utf-8").splitlines()
    (root / MIRROR / name).write_text("\n".join(mutate(lines)) + "\n", encoding="utf-8")
    return root / MIRROR / name


def replace_at(i, old, new):
    return lambda lines: lines[:i] + [lines[i].replace(old, new, 1)] + lines[i + 1 :]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (replace_at(5, "2022-01-01 04:00:00", "today"), ":6: timestamp 'today' is not a date-time"),
        (replace_at(5, "2022-01-01 04:00:00", ""), ":6: timestamp '' is not a date-time"),
        (replace_at(5, "2022-01-01 04:00:00", "01/01/2022 04:00"), ":6: timestamp '01/01/2022 04:00'"),
        (replace_at(5, "2022-01-01", "2019-01-01"), ":6: timestamp 2019-01-01 04:00:00+00:00 (UTC) is outside 2022"),
        (
            lambda lines: lines[:5] + [re.sub(r",(\d+)\.(\d+),", r",\1,\2,", lines[5], count=1)] + lines[6:],
            ":6: 12 fields where the header has 11",
        ),
        (lambda lines: lines[:1], ":1: a header and no data rows"),
        (
            lambda lines: lines[:5000],
            ":5000: zone DE stops at 2022-07-28 06:00:00+00:00; carbon.years asks for all of 2022",
        ),
        (lambda lines: lines[:1] + lines[100:], ":2: zone DE starts at 2022-01-05 03:00:00+00:00"),
        (replace_at(7, ",DE,", ",FR,"), ":8: zone 'FR' in a file named for zone 'DE'"),
        (replace_at(7, ",false,", ",false,x,"), ":8: 12 fields"),
    ],
)
def test_a_bad_mirror_trace_is_named_by_line_and_never_kept(tmp_path, monkeypatch, data_mirror, mutate, message):
    bad = mirror_with(tmp_path, data_mirror, mutate=mutate)
    monkeypatch.setenv("GREENBENCH_DATA", str(tmp_path / "mirror"))
    dest = tmp_path / "resources" / "DE_2022_hourly.csv"
    with pytest.raises(traces.TraceError) as err:
        traces.retrieve_trace("DE", 2022, dest, "direct", 2000.0, 3)
    assert str(err.value).startswith(str(bad)) and message in str(err.value), err.value
    assert not dest.exists() and (not dest.parent.exists() or not any(dest.parent.iterdir()))
    # fixing the mirror is enough: the next retrieve copies the good file
    shutil.copyfile(data_mirror / MIRROR / "DE_2022_hourly.csv", bad)
    assert (
        traces.retrieve_trace("DE", 2022, dest, "direct", 2000.0, 3) == dest and dest.read_bytes() == bad.read_bytes()
    )


def test_a_source_whose_header_does_not_fit_its_format_is_named_before_any_job(tmp_path, monkeypatch, data_mirror):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "de.csv").write_bytes((data_mirror / MIRROR / "DE_2022_hourly.csv").read_bytes())
    err = check(
        tmp_path,
        "carbon:\n  sources: [{path: de.csv, format: long}]\n  zones: [DE]\n  years: [2022]\n"
        "  schedule: {scenarios: {only: {}}, origin_shares: {DE: 1}, latency_ms: {DE: {DE: 5}}}\n"
        "footprint: {zone: DE}\n",
    )
    assert "de.csv:1: a long trace starts with the header" in err, err


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "\ufefftimestamp,zone,carbon_intensity_gco2_per_kwh\n2022-01-01T00:00Z,CISO,100\n2022-01-01T01:00Z,CISO,101\n",
        encoding="utf-8",
    )
    out = traces.read_trace(path)
    assert out.ci.tolist() == [100.0, 101.0] and str(out.timestamp.iloc[1]) == "2022-01-01 01:00:00+00:00"


def test_an_sst2_file_with_lone_cr_line_ends_says_so_without_dumping_the_file(tmp_path):
    from greenbench.data.sst2 import DataValidationError, read_sst2_tsv

    path = tmp_path / "dev.tsv"
    path.write_bytes(b"sentence\tlabel\r" + b"a fine film\t1\r" * 500)
    with pytest.raises(DataValidationError) as err:
        read_sst2_tsv(path)
    assert "lone CR" in str(err.value) and len(str(err.value)) < 400
