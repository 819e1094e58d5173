"""Pure tests of the date helpers of the clock module."""
import datetime as dt
import unittest
from types import SimpleNamespace

from dateutil.relativedelta import relativedelta

from ..clock import add_interval, company_time


class CompanyTimeTestCase(unittest.TestCase):
    "Stored UTC date-times written as the company's wall-clock time"

    def test_beijing(self):
        beijing = SimpleNamespace(timezone='Asia/Shanghai')
        assert company_time(beijing, dt.datetime(2026, 12, 1, 9, 0)) == (
            dt.datetime(2026, 12, 1, 17, 0))
        # across midnight: the next day in Beijing
        assert company_time(beijing, dt.datetime(2026, 12, 31, 20, 30)) == (
            dt.datetime(2027, 1, 1, 4, 30))

    def test_without_time_zone(self):
        for company in [None, SimpleNamespace(timezone=None)]:
            assert company_time(company, dt.datetime(2026, 6, 1, 9, 0)) == (
                dt.datetime(2026, 6, 1, 9, 0))


class AddIntervalTestCase(unittest.TestCase):
    "Months keep the day where it exists and stop at the end of the month"

    def test_examples(self):
        assert add_interval(dt.date(2025, 1, 31), 1, 'months') == (
            dt.date(2025, 2, 28))
        assert add_interval(dt.date(2024, 1, 31), 1, 'months') == (
            dt.date(2024, 2, 29))
        assert add_interval(dt.date(2025, 12, 15), 3, 'months') == (
            dt.date(2026, 3, 15))
        assert add_interval(dt.date(2025, 3, 1), 90, 'days') == (
            dt.date(2025, 5, 30))

    def test_as_relativedelta(self):
        "The same day as dateutil's relativedelta over ten years"
        start = dt.date(2023, 1, 1)
        for offset in range(366 * 10):
            day = start + dt.timedelta(days=offset)
            for months in (-13, -1, 1, 2, 3, 5, 6, 12, 25):
                assert add_interval(day, months, 'months') == (
                    day + relativedelta(months=months)), (day, months)
