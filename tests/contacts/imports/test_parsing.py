"""The pure parts of an import: encoding detection, sniffing, mapping, row checks."""

from __future__ import annotations

import json
import uuid

import pytest

from maily.contacts.fields import FieldSpec, FieldType, InvalidFieldValue, coerce
from maily.contacts.imports.mapping import KnownField, guess_mapping, plan_columns
from maily.contacts.imports.parsing import Batch, RowChecker
from maily.contacts.imports.sniffing import ContentCheck, inspect, jsonl_cell, sniff_delimiter


def checked(*chunks: bytes) -> ContentCheck:
    check = ContentCheck()
    for chunk in chunks:
        check.feed(chunk)
    check.finish()
    return check


def test_utf8_split_across_chunks_is_still_utf8() -> None:
    data = "email,name\r\nzoe@example.com,Zoë Ünal\r\n".encode()
    cut = data.index("ë".encode()) + 1  # inside the two bytes of ë
    assert checked(data[:cut], data[cut:]).encoding == "utf-8"
    assert checked(data[:-1]).encoding == "utf-8"


def test_a_truncated_utf8_character_at_the_end_is_not_utf8() -> None:
    assert checked("é".encode()[:1]).encoding == "cp1252"


def test_the_head_is_kept_and_the_size_counted() -> None:
    check = checked(b"a" * 70_000, b"b" * 10)
    assert len(check.head) == 64 * 1024
    assert check.size == 70_010
    assert not check.complete


def test_a_long_file_is_inspected_from_its_head() -> None:
    rows = b"email;name\r\n" + b"".join(
        f"person{n}@example.com;Person {n}\r\n".encode() for n in range(5000)
    )
    facts = inspect(checked(rows))
    assert facts.delimiter == ";"
    assert facts.columns == ["email", "name"]
    assert len(facts.sample) == 5


def test_duplicate_and_empty_header_names_become_unique() -> None:
    facts = inspect(checked(b"email,Name,,Name\r\na@example.com,A,x,B\r\n"))
    assert facts.columns == ["email", "Name", "column 3", "Name (2)"]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("email\na@example.com\n", ","),
        ('email;note\na@example.com;"x;y"\n', ";"),
        ("a|b|c\n1|2|3\n", "|"),
        ("a\tb\n1\t2\n", "\t"),
    ],
)
def test_delimiter_sniffing(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text, complete=True) == delimiter


def test_guessed_mapping_gives_each_target_to_one_column() -> None:
    mapping = guess_mapping(
        ["Email", "E-mail", "Company name", "first"],
        [],
        [KnownField("company", "Company name")],
    )
    assert mapping == {
        "Email": "email",
        "E-mail": "ignore",
        "Company name": "field:company",
        "first": "first_name",
    }


def test_jsonl_cells() -> None:
    assert jsonl_cell(["a", 1, True]) == "a,1,true"
    assert jsonl_cell({"x": "\u0000y"}) == '{"x": "y"}'
    assert jsonl_cell(None) == ""
    assert jsonl_cell(2.5) == "2.5"


SPECS = {
    "n": FieldSpec("n", FieldType.number),
    "d": FieldSpec("d", FieldType.date),
    "b": FieldSpec("b", FieldType.boolean),
    "c": FieldSpec("c", FieldType.choice, ("Gold", "Silver")),
    "t": FieldSpec("t", FieldType.text),
}
VALUES = [
    "1",
    "1.0",
    " 2,5 ",
    "-0",
    "1e3",
    "9007199254740993",
    "nan",
    "inf",
    "x",
    "2024-02-29",
    "2023-02-29",
    "2024-02-29T10:00",
    "yes",
    "OFF",
    "Gold",
    "gold",
    'quote " and \\ backslash',
    "ünïcödé ✓",
    "\ttabbed",
]


def test_row_checks_store_custom_fields_as_the_contacts_api_would() -> None:
    columns = ["email", *SPECS]
    plan = plan_columns(columns, {"email": "email"} | {k: f"field:{k}" for k in SPECS}, SPECS)
    checker = RowChecker(plan, [])
    rows = [[f"p{i}@example.com", *([value] * len(SPECS))] for i, value in enumerate(VALUES)]
    records, problems = checker.check(Batch(2, rows))
    for (*_, fields, _subscribe, _id), value in zip(records, VALUES, strict=True):
        expected = {}
        for key, spec in SPECS.items():
            try:
                coerced = coerce(spec, value)
            except InvalidFieldValue:
                continue
            if coerced is not None:
                expected[key] = coerced
        assert json.loads(fields or "{}") == expected, value
    assert all("value ignored" in reason for _, _, reason in problems)


def test_staged_contact_ids_are_distinct_uuid7s() -> None:
    plan = plan_columns(["email"], {"email": "email"}, {})
    records, _ = RowChecker(plan, []).check(Batch(2, [[f"p{n}@example.com"] for n in range(1000)]))
    ids = [uuid.UUID(record[-1]) for record in records]
    assert len(set(ids)) == 1000
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    assert ids == sorted(ids)
