"""A job that stops on bad input prints one block naming what to fix, no traceback (GREENBENCH_DEBUG=1: with it)."""

import pytest

from greenbench.carbon.traces import TraceError
from greenbench.config.load import ConfigError
from greenbench.core.log import InputError, logged_script
from greenbench.data.sst2 import DataValidationError


@pytest.mark.parametrize("error", [ConfigError, DataValidationError, TraceError])
def test_bad_input_is_one_block_in_the_log_and_an_exit_status_not_a_traceback(error, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GREENBENCH_DEBUG", raising=False)
    assert issubclass(error, InputError)
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop:
        with logged_script(log, "prepare_traces"):
            raise error("data/DE_2021.csv:17: 'abc' is not a number (expected gCO2e/kWh)")
    assert stop.value.code == 1
    text, err = log.read_text(), capsys.readouterr().err
    for out in (text, err):
        assert "prepare_traces stopped on bad input:\ndata/DE_2021.csv:17: 'abc' is not a number" in out
        assert "Traceback" not in out and "GREENBENCH_DEBUG=1 shows the traceback" in out


def test_with_debug_the_traceback_is_kept_and_other_failures_keep_theirs(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENBENCH_DEBUG", "1")
    with pytest.raises(ConfigError):
        with logged_script(tmp_path / "a.log", "x"):
            raise ConfigError("config key 'seed': required key is missing")
    assert "Traceback" in (tmp_path / "a.log").read_text()
    monkeypatch.delenv("GREENBENCH_DEBUG")
    with pytest.raises(RuntimeError):  # a bug, not bad input: the traceback is what a developer needs
        with logged_script(tmp_path / "b.log", "x"):
            raise RuntimeError("boom")
    assert "Traceback" in (tmp_path / "b.log").read_text()
