"""Reading and cleaning band names: what is kept, what counts as the same name, bad files."""

import pytest

from generator.errors import DataError
from generator.names import (
    MAX_NAME_LENGTH,
    clean_name,
    freshness_key,
    load_names,
    prepare_names,
    read_column,
    split_names,
)


def test_clean_name_normalizes_and_drops_invisible_characters():
    decomposed = "Mo\u0308torhead"  # o followed by a combining diaeresis
    assert clean_name(f"  {decomposed}\u00ad \t Rising\n") == "Mötorhead Rising"


def test_freshness_key_ignores_case_and_accents():
    assert freshness_key("Mötörhead") == freshness_key("MOTORHEAD ")
    assert freshness_key("Sepultura") != freshness_key("Sepultura II")


def test_prepare_names_drops_empty_overlong_and_duplicates():
    raw = ["Grave", " ", "Grave", "x" * (MAX_NAME_LENGTH + 1), "Gorefest", ""]
    assert prepare_names(raw) == ["Grave", "Gorefest"]
    assert prepare_names(raw, keep_duplicates=True) == ["Grave", "Grave", "Gorefest"]


def test_nothing_left_after_cleaning_is_a_data_error():
    with pytest.raises(DataError, match="no usable names"):
        prepare_names(["", "   "])


def test_split_is_deterministic_disjoint_and_keeps_copies_together():
    names = [f"Band {i}" for i in range(200)] + ["Band 7", "Band 7"]
    first, second = split_names(names, 0.1, seed=3), split_names(list(names), 0.1, seed=3)
    assert first == second
    assert not set(first.train) & set(first.validation)
    assert len(set(first.validation)) == 20
    assert split_names(names, 0.1, seed=4).validation != first.validation


def test_read_column_reports_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_column(tmp_path / "absent.csv")


def test_read_column_lists_the_columns_when_one_is_missing(tmp_path):
    path = tmp_path / "bands.csv"
    path.write_text("id,band\n1,Grave\n")
    with pytest.raises(DataError, match=r"no column 'name' \(columns: id, band\)"):
        read_column(path)


def test_binary_file_is_not_csv(tmp_path):
    path = tmp_path / "bands.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError, match="binary file, not a CSV"):
        read_column(path)


def test_text_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "bands.csv"
    path.write_bytes("name\nMötley\n".encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 text CSV"):
        read_column(path)


def test_load_names_reads_another_column(bands_csv):
    genres = load_names(bands_csv, column="genre", keep_duplicates=True)
    assert "Brutal Death Metal" in genres
