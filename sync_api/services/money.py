"""Decimal strings in, scaled integers stored, decimal strings out.

A JSON number is never money here: a float may already have lost the exact
amount before the API sees it. So only strings of plain decimal notation
are read ("1200.00", "-3", ".5" is refused, "1e3" is refused).
"""

# Powers of ten by exponent: a lookup is cheaper than 10 ** n per value.
_SCALES = [10**n for n in range(40)]


def parse_scaled(text: str, digits: int, max_integer_digits: int) -> int | None:
    """Return ``text`` times ``10 ** digits`` as an int, or None when it is
    not a plain decimal (``-?[0-9]+(\\.[0-9]+)?``) with at most ``digits``
    decimals and ``max_integer_digits`` integer digits."""
    # str methods instead of a regular expression: this runs three times per
    # pushed line. isascii() keeps out the other digits isdigit() knows
    # ("\uff11", "\u00b2"); int() never sees a sign, a space or a "_".
    negative = text[:1] == "-"
    integer, dot, fraction = (text[1:] if negative else text).partition(".")
    if not (integer.isascii() and integer.isdigit()):
        return None
    if dot:
        if not (fraction.isascii() and fraction.isdigit()) or len(fraction) > digits:
            return None
        value = int(integer + fraction) * _SCALES[digits - len(fraction)]
    else:
        value = int(integer) * _SCALES[digits]
    if value >= _SCALES[digits + max_integer_digits]:
        return None
    return -value if negative else value


def format_scaled(value: int, digits: int) -> str:
    """The decimal string of a scaled integer, with all its decimals."""
    sign = "-" if value < 0 else ""
    integer, fraction = divmod(abs(value), 10**digits)
    if not digits:
        return f"{sign}{integer}"
    return f"{sign}{integer}.{fraction:0{digits}d}"
