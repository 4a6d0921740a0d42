import gzip

import pytest

from greenbench.data import sst2 as data
from greenbench.core import io
from conftest import Said

GOOD = "sentence\tlabel\nit 's a charming journey . \t1\nbleak and desperate \t0\n"


def write(tmp_path, text, name="dev.tsv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_reads_valid_file(tmp_path):
    df = data.read_sst2_tsv(write(tmp_path, GOOD))
    assert list(df.columns) == ["idx", "sentence", "label"]
    assert df.sentence.tolist() == ["it 's a charming journey .", "bleak and desperate"]
    assert df.label.tolist() == [1, 0]


@pytest.mark.parametrize(
    "text, where, what",
    [
        ("sentence\tlbl\nfine\t1\n", ":1:", "header"),
        ("sentence\tlabel\nfine\t1\nno label here\n", ":3:", "2 tab-separated fields"),
        ("sentence\tlabel\nfine\t1\na\tb\t1\n", ":3:", "found 3"),
        ("sentence\tlabel\nfine\t2\n", ":2:", "label must be 0 or 1"),
        ("sentence\tlabel\n  \t1\n", ":2:", "empty sentence"),
        (b"sentence\tlabel\nfine\t1\ncaf\xe9\t0\n", ":3:", "UTF-8"),
        ("", "dev.tsv", "empty"),
        ("sentence\tlabel\n", "dev.tsv", "no data rows"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path, text, where, what):
    path = write(tmp_path, text)
    with pytest.raises(data.DataValidationError) as err:
        data.read_sst2_tsv(path)
    msg = str(err.value)
    assert str(path) in msg and where in msg and what in msg


def test_error_report_is_bounded(tmp_path):
    body = "sentence\tlabel\n" + "x\t7\n" * 100
    with pytest.raises(data.DataValidationError) as err:
        data.read_sst2_tsv(write(tmp_path, body))
    assert str(err.value).count("label must be") == data.MAX_REPORTED_ERRORS


def test_prepare_writes_schema_and_provenance(tmp_path):
    out = tmp_path / "dev.parquet"
    data.prepare_dataset(write(tmp_path, GOOD), out, "dev")
    df = io.read_parquet(out)
    assert df.dtypes.astype(str).tolist() == ["int32", "str", "int8"] or df.label.dtype.name == "int8"
    meta = io.read_metadata(out)
    assert meta["rows"] == 2 and meta["label_counts"] == {"0": 1, "1": 1} and len(meta["source_sha256"]) == 64


def test_prepare_leaves_no_output_on_bad_input(tmp_path):
    out = tmp_path / "dev.parquet"
    with pytest.raises(data.DataValidationError):
        data.prepare_dataset(write(tmp_path, "sentence\tlabel\nx\t9\n"), out, "dev")
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))


def test_retrieve_prefers_existing_then_mirror(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "sst2").mkdir(parents=True)
    (mirror / "sst2" / "dev.tsv").write_text(GOOD)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    dest = tmp_path / "resources" / "sst2" / "dev.tsv"
    data.retrieve_sst2("dev", dest, hub_fallback=False)
    assert dest.read_text() == GOOD
    dest.write_text("sentence\tlabel\nlocal copy\t1\n")
    data.retrieve_sst2("dev", dest, hub_fallback=False)  # an existing file wins
    assert "local copy" in dest.read_text()


def test_a_malformed_mirror_is_not_copied_so_fixing_it_is_enough(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "sst2").mkdir(parents=True)
    bad = mirror / "sst2" / "dev.tsv"
    bad.write_text("sentence\tlabel\nfine\t1\nbroken row\n")
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    dest = tmp_path / "resources" / "sst2" / "dev.tsv"
    with pytest.raises(data.DataValidationError, match=f"{bad}:3"):
        data.retrieve_sst2("dev", dest, hub_fallback=False)
    assert not dest.exists()  # nothing kept: a rerun after fixing the mirror just works
    bad.write_text(GOOD)
    data.retrieve_sst2("dev", dest, hub_fallback=False)
    assert dest.read_text() == GOOD


def test_retrieve_without_any_copy_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    dest = tmp_path / "resources" / "sst2" / "train.tsv"
    with pytest.raises(data.DataNotFoundError) as err:
        data.retrieve_sst2("train", dest, hub_fallback=False)
    msg = str(err.value)
    assert str(dest) in msg and "GREENBENCH_DATA" in msg and "data.hub_fallback" in msg


def test_real_mirror_parses(data_mirror):
    df = data.read_sst2_tsv(data_mirror / "sst2" / "dev.tsv")
    assert len(df) == 872 and set(df.label) == {0, 1}


def test_subset_is_seeded_and_ordered():
    import pandas as pd

    df = pd.DataFrame({"idx": range(100), "x": range(100)})
    a, b = data.subset(df, 10, seed=1), data.subset(df, 10, seed=1)
    assert a.equals(b) and a.idx.is_monotonic_increasing and len(a) == 10
    assert not a.equals(data.subset(df, 10, seed=2))
    assert data.subset(df, 0, seed=1) is df


def test_control_characters_in_a_sentence_are_an_error(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text("sentence\tlabel\nfine film\t1\nbro\x00ken\t0\n")
    with pytest.raises(data.DataValidationError, match=f"{path}:3: control character"):
        data.read_sst2_tsv(path)


# ---- encodings: the same as every other reader (greenbench.core.textfiles) -------------------------------------


def test_a_byte_order_mark_is_accepted_and_said_once(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())
    with Said() as said:
        df = data.read_sst2_tsv(path)
    assert df.label.tolist() == [1, 0]
    assert [m for m in said.messages if "BOM" in m] == [f"{path}: UTF-8 byte order mark (BOM) ignored"]


@pytest.mark.parametrize(
    "encode, where, words",
    [
        (lambda t: gzip.compress(t.encode()), ": ", "gzip-compressed, not text: gunzip it first"),
        (lambda t: t.encode("utf-16"), ": ", "looks like UTF-16 text"),
        (lambda t: t.encode("utf-16-le"), ": ", "a NUL byte every other byte"),
        (lambda t: t.encode("latin-1"), ":3: ", "looks like Latin-1/Windows-1252 text, where it is 'é'"),
    ],
)
def test_a_file_in_another_encoding_is_one_line_naming_it(tmp_path, encode, where, words):
    text = "sentence\tlabel\nfine\t1\n" + "un café noir\t0\n" * 20
    path = write(tmp_path, encode(text))
    with pytest.raises(data.DataValidationError) as err:
        data.read_sst2_tsv(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}{where}") and words in msg
    assert "save it as UTF-8" in msg or "gunzip it first" in msg
    assert "\n" not in msg and msg.count("UTF-8") <= 2  # one line, not one per bad line
