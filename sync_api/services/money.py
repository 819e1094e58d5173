"""Decimal strings in, scaled integers stored, decimal strings out.

A JSON number is never money here: a float may already have lost the exact
amount before the API sees it. So only strings of plain decimal notation
are read ("1200.00", "-3", ".5" is refused, "1e3" is refused).
"""

import re

_DECIMAL = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")


def parse_scaled(text: str, digits: int, max_integer_digits: int) -> int | None:
    """Return ``text`` times ``10 ** digits`` as an int, or None when it is
    not a plain decimal with at most ``digits`` decimals."""
    match = _DECIMAL.fullmatch(text)
    if match is None:
        return None
    integer, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > digits or len(integer.lstrip("0")) > max_integer_digits:
        return None
    value = int(integer) * 10**digits + int(fraction.ljust(digits, "0") or 0)
    return -value if text.startswith("-") else value


def format_scaled(value: int, digits: int) -> str:
    """The decimal string of a scaled integer, with all its decimals."""
    sign = "-" if value < 0 else ""
    integer, fraction = divmod(abs(value), 10**digits)
    if not digits:
        return f"{sign}{integer}"
    return f"{sign}{integer}.{fraction:0{digits}d}"
