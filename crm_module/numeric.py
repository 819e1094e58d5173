"""Exact figures in SQL: sums in whole cents, percentages, and the text
Tryton stores for a Numeric on SQLite, the same on every backend."""
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from sql import Cast, Null
from sql.aggregate import Sum
from sql.conditionals import Case, NullIf
from sql.functions import Abs, Function, Round

from trytond import backend
from trytond.transaction import Transaction


PERCENT_QUANTUM = Decimal('0.0001')


class _SQLitePercent(Function):
    "100 * numerator / denominator rounded to 4 digits, as decimal text"
    __slots__ = ()
    _function = 'CRM_PERCENT'


class _Printf(Function):
    "SQLite's printf, which formats in C what Python would format per row"
    __slots__ = ()
    _function = 'PRINTF'


# The largest whole numbers whose percentage sqlite_percent computes in
# 64-bit integers: |numerator| * 10**6 + |denominator| / 2 stays below
# 2**63. Larger ones are handed to Python's exact decimals (CRM_PERCENT).
_PERCENT_NUMERATOR_LIMIT = 10 ** 12


_PERCENT_DENOMINATOR_LIMIT = 10 ** 18


def _sqlite_decimal_text(negative, units, digits):
    """Return the SQLite SQL of the BLOB of str(Decimal) for a whole number
    of units of 10**-digits given as its absolute value and its sign"""
    scale = 10 ** digits
    fmt = '%%d.%%0%dd' % digits
    return Cast(_Printf(Case((negative, '-' + fmt), else_=fmt),
            units / scale, units % scale), 'BLOB')


def sqlite_amount(cents):
    """Return the SQLite SQL of whole cents as the text of a Numeric with 2
    digits, byte for byte what Tryton stores for Decimal(cents).scaleb(-2)
    (a BLOB of its str), or NULL"""
    return Case((cents == Null, Null),
        else_=_sqlite_decimal_text(cents < 0, Abs(cents), 2))


def sqlite_percent(numerator, denominator):
    """Return the SQLite SQL of percent(numerator, denominator) for whole
    numbers, as the text Tryton stores for that Decimal (a BLOB of its str).

    The quotient is rounded half away from zero on the absolute values, in
    integers; its sign is the sign Decimal gives, so that 0 / -x is -0.0000
    as in Python."""
    a = Abs(numerator) * 1000000
    b = Abs(denominator)
    quotient = (a + b / 2) / b
    negative = (numerator < 0) != (denominator < 0)
    return Case(
        ((numerator == Null) | (denominator == Null) | (denominator == 0),
            Null),
        ((Abs(numerator) >= _PERCENT_NUMERATOR_LIMIT)
            | (b >= _PERCENT_DENOMINATOR_LIMIT),
            _SQLitePercent(numerator, denominator)),
        else_=_sqlite_decimal_text(negative, quotient, 4))


def percent(numerator, denominator):
    """Return 100 * numerator / denominator rounded half away from zero to
    4 digits, or None when the denominator is zero (the rounding of
    PostgreSQL's ROUND, so that both backends give the same figures)"""
    if numerator is None or not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(
        PERCENT_QUANTUM, rounding=ROUND_HALF_UP)


def achieved_percent(actual, target):
    """Return actual as a percentage of target rounded half-even to 0.01, or
    None without an actual or a target (plan achievement, visit compliance)"""
    if actual is None or not target:
        return None
    return (Decimal(actual) * 100 / target).quantize(
        Decimal('0.01'), rounding=ROUND_HALF_EVEN)


def _sqlite_percent(numerator, denominator):
    value = percent(numerator, denominator)
    return str(value).encode() if value is not None else None


def prepare_cents():
    """Make the cents functions available on the transaction's connection.

    SQLite has no exact decimal type: sums are taken in whole cents and the
    results are turned back into the decimal text Tryton itself stores for
    a Numeric, in SQL (sqlite_amount, sqlite_percent) or, for percentages
    too large for 64-bit integers, by Python's exact decimals."""
    if backend.name == 'sqlite':
        connection = Transaction().connection
        connection.create_function(
            'CRM_PERCENT', 2, _sqlite_percent, deterministic=True)


def cents(column):
    """Return the SQL of a Numeric column with 2 digits in whole cents, as a
    64-bit integer on any backend: exact, and PostgreSQL sums bigints much
    faster than numerics"""
    if backend.name == 'sqlite':
        return Cast(Round(column * 100), 'INTEGER')
    return Cast(column * 100, 'BIGINT')


def numeric(expression):
    "Return expression as an exact number for products that may be large"
    if backend.name == 'sqlite':
        return expression
    return Cast(expression, 'NUMERIC')


def cents_to_amount(expression):
    "Return the SQL of a Numeric value with 2 digits from whole cents"
    if backend.name == 'sqlite':
        return sqlite_amount(expression)
    return Round(Cast(expression, 'NUMERIC') / 100, 2)


def sql_percent(numerator, denominator):
    "Return the SQL of percent(numerator, denominator)"
    if backend.name == 'sqlite':
        return sqlite_percent(numerator, denominator)
    return Round(
        Cast(numerator, 'NUMERIC') * 100 / NullIf(denominator, 0), 4)


def exact_sum(column, digits=2):
    """Return a SQL SUM of a Numeric column that stays exact on every backend.

    SQLite keeps Tryton's Numeric values as text and sums them as floats;
    summing whole units of 10**-digits as integers keeps every cent.
    Read the result with from_exact_sum.
    """
    if backend.name == 'sqlite':
        return Sum(Cast(Round(column * (10 ** digits)), 'INTEGER'))
    return Sum(column)


def from_exact_sum(value, digits=2):
    if value is None:
        return Decimal(0)
    if backend.name == 'sqlite':
        return Decimal(int(value)).scaleb(-digits)
    return Decimal(value)


def numeric_text(column):
    "Return the SQL of a Numeric column as its text, for report_number_text"
    return Cast(column, 'VARCHAR')
