"""Pure tests of the SQL that turns whole cents into Tryton's SQLite text.

The evaluation computes on SQLite in whole cents and writes its amounts
and percentages as the text Tryton stores for a Numeric. The SQL that
formats them (sqlite_amount, sqlite_percent) must give byte for byte what
Python's decimals give (the CRM_PERCENT function and str(Decimal)), or the
figures would differ by backend.
"""
import sqlite3
import unittest
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st
from sql import Flavor, Literal, Select

from ..numeric import (
    _PERCENT_DENOMINATOR_LIMIT, _PERCENT_NUMERATOR_LIMIT, _sqlite_percent,
    percent, sqlite_amount, sqlite_percent)

INT64 = st.integers(min_value=-2 ** 62, max_value=2 ** 62)
# Around the limits where the SQL hands over to Python, and small values
# where ties of the rounding are frequent.
NUMERATORS = st.one_of(
    st.integers(min_value=-300, max_value=300),
    st.integers(
        min_value=-2 * _PERCENT_NUMERATOR_LIMIT,
        max_value=2 * _PERCENT_NUMERATOR_LIMIT),
    INT64)
DENOMINATORS = st.one_of(
    st.sampled_from([1, 2, 3, 7, 8, 16, 32, 64, 1600, -8, -3, 0]),
    st.integers(min_value=-10 ** 9, max_value=10 ** 9),
    st.integers(
        min_value=_PERCENT_DENOMINATOR_LIMIT - 5,
        max_value=_PERCENT_DENOMINATOR_LIMIT + 5),
    INT64)


class SQLiteFormatTestCase(unittest.TestCase):
    "The SQL formatting of cents and percentages on SQLite"

    def setUp(self):
        self.connection = sqlite3.connect(':memory:')
        self.connection.create_function(
            'CRM_PERCENT', 2, _sqlite_percent, deterministic=True)
        self.addCleanup(self.connection.close)
        # Render with SQLite's parameters whatever backend runs the tests
        previous = Flavor.get()
        Flavor.set(Flavor(paramstyle='qmark'))
        self.addCleanup(Flavor.set, previous)

    def value(self, expression):
        query, params = tuple(Select([expression]))
        return self.connection.execute(query, params).fetchone()[0]

    @settings(max_examples=2000, deadline=None)
    @given(st.one_of(st.none(), st.integers(-10 ** 6, 10 ** 6), INT64))
    @example(0)
    @example(-5)
    @example(-100)
    @example(100)
    def test_amount(self, cents):
        "sqlite_amount gives the bytes Tryton stores for the Decimal"
        expected = (None if cents is None
            else str(Decimal(cents).scaleb(-2)).encode())
        assert self.value(sqlite_amount(Literal(cents))) == expected

    @settings(max_examples=5000, deadline=None)
    @given(st.one_of(st.none(), NUMERATORS), st.one_of(st.none(), DENOMINATORS))
    @example(0, -5)  # Decimal's -0.0000
    @example(1, 8)  # 12.5 exactly
    @example(-1, 16)  # -6.25
    @example(1, 3200000)  # 0.00003125: a tie at the 4th digit
    @example(-1, 3200000)
    @example(_PERCENT_NUMERATOR_LIMIT - 1, 7)
    @example(_PERCENT_NUMERATOR_LIMIT, 7)
    @example(-_PERCENT_NUMERATOR_LIMIT, 7)
    @example(5, _PERCENT_DENOMINATOR_LIMIT - 1)
    @example(5, _PERCENT_DENOMINATOR_LIMIT)
    @example(5, 0)
    def test_percent(self, numerator, denominator):
        "sqlite_percent gives the bytes of percent() rounded half up"
        expected = percent(numerator, denominator)
        if expected is not None:
            expected = str(expected).encode()
        value = self.value(
            sqlite_percent(Literal(numerator), Literal(denominator)))
        assert value == expected, (numerator, denominator, value, expected)

