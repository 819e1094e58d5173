"""parse_scaled reads exactly the plain decimals of its documented pattern."""

import re

import pytest

from sync_api.services.money import format_scaled, parse_scaled

PATTERN = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
TEXTS = [
    "1",
    "-1",
    "0",
    "-0",
    "1.5",
    "-1.50",
    "0001234.5678",
    "0.0001",
    "1.00001",
    "99999999999999.99",
    "100000000000000",
    "999999999999.9999",
    "1000000000000",
    "00000000000000000001",
    "12.",
    ".5",
    "-",
    "",
    "1e3",
    "+1",
    "1_0",
    "1.2.3",
    " 1",
    "1 ",
    "1.-5",
    "1._5",
    "\uff11",
    "\u00b2",
    "\u0661",
]


def reference(text, digits, max_integer_digits):
    match = PATTERN.fullmatch(text)
    if match is None:
        return None
    integer, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > digits or len(integer.lstrip("0")) > max_integer_digits:
        return None
    value = int(integer) * 10**digits + int(fraction.ljust(digits, "0") or 0)
    return -value if text.startswith("-") else value


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(("digits", "integer_digits"), [(2, 14), (4, 12)])
def test_parse_scaled_equals_the_pattern(text, digits, integer_digits):
    assert parse_scaled(text, digits, integer_digits) == reference(
        text, digits, integer_digits
    )


@pytest.mark.parametrize("text", ["0.00", "-3.10", "99999999999999.99"])
def test_parse_then_format_gives_the_text_back(text):
    assert format_scaled(parse_scaled(text, 2, 14), 2) == text
