"""The fast line loader gives exactly what the marshmallow schema gives,
and never takes a line the schema refuses."""

from datetime import date

import pytest
from marshmallow import ValidationError

from sync_api.currencies import ISO_4217_CODES
from sync_api.schemas import FastLineLoader, make_line_schema
from tests.lines import line, today_plus

SETTINGS = (ISO_4217_CODES, date(2000, 1, 1), 7)
VALID = [
    line(),
    line(revision=3, status="cancelled", product=None, category=None),
    line(quantity="-1.5", amount="-3", cost="0"),
    line(amount="99999999999999.99", quantity="0.0001"),
    line(date="2000-01-01"),
    line(date=today_plus(7)),
    {
        key: value
        for key, value in line().items()
        if key not in {"revision", "status", "product", "category"}
    },
]
INVALID = [
    line(amount=1.0),
    line(amount="1e3"),
    line(amount="1."),
    line(amount=".5"),
    line(amount="-"),
    line(quantity="\uff11\uff12"),  # full-width digits: \\d matches them
    line(date="2025-3-14"),
    line(date="20250314"),
    line(date=today_plus(8)),
    line(revision=True),
    line(customer="x" * 65),
    line(product=12),
    line(extra=1),
    "A-1",
    None,
]


@pytest.fixture(scope="module")
def schema():
    return make_line_schema(*SETTINGS)


@pytest.mark.parametrize("item", VALID)
def test_fast_loader_equals_the_schema_on_valid_lines(schema, item):
    assert FastLineLoader(*SETTINGS).load([item]) == schema.load([item])


@pytest.mark.parametrize("item", INVALID)
def test_fast_loader_leaves_invalid_lines_to_the_schema(schema, item):
    assert FastLineLoader(*SETTINGS).load([line(), item]) is None
    with pytest.raises(ValidationError):
        schema.load([item])
