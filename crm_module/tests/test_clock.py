"""Pure tests of the date helpers of the clock module."""
import datetime as dt
import unittest
from types import SimpleNamespace

from ..clock import company_time


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
