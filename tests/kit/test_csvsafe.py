"""CSV formula escaping: no cell of an export can start a spreadsheet formula."""

from __future__ import annotations

import csv
import io

import pytest

from maily.kit.csvsafe import FORMULA_PREFIXES, CSVRowWriter, escape_cell


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example","x")',
        "+1 555 0100",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_every_formula_prefix_gets_a_single_quote(value: str) -> None:
    assert escape_cell(value) == "'" + value


def test_the_prefix_list_is_owasps() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.mark.parametrize("value", ["", "ann@example.com", "Ann", "1-2", "a=b", " =1", "'=1"])
def test_cells_that_start_no_formula_stay_as_they_are(value: str) -> None:
    assert escape_cell(value) == value


def test_writer_escapes_every_cell_and_quotes_all_of_them() -> None:
    writer = CSVRowWriter()
    writer.write(["email", "=cmd|' /C calc'!A0", "-5"])
    writer.write(["x@example.com", 'say "hi", then\r\nleave', "@me"])
    data = writer.take()
    assert data.startswith(b'"email","\'=cmd|')
    assert data.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows == [
        ["email", "'=cmd|' /C calc'!A0", "'-5"],
        ["x@example.com", 'say "hi", then\r\nleave', "'@me"],
    ]


def test_take_empties_the_buffer() -> None:
    writer = CSVRowWriter()
    writer.write(["a"])
    assert writer.take() == b'"a"\r\n'
    assert writer.take() == b""
    writer.write(["é"])
    assert writer.take() == '"é"\r\n'.encode()
