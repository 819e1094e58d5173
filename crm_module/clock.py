"""The clock of the relationship rules, and the one way to replay it.

Scenarios, the demo loader and the benchmarks replay an earlier time
through the context: crm_now (a date-time) or crm_today (a day, for the
rules that read dates). One rule governs both: a server replays time
only when its configuration says so,

    [crm]
    time_replay = True

which only the test suite and the in-process loaders set; a production
server never does, so nobody, administrator or not, can date a complaint's
response or a plan's approval back there. Replayed values only move the
clock back, so no rule refusing dates in the future can be escaped.
"""
import calendar
import datetime as dt


from trytond.config import config
from trytond.pool import Pool
from trytond.tools import timezone as tz
from trytond.transaction import Transaction


def replay_allowed():
    "Tell whether this server's configuration lets the context replay time"
    return config.getboolean('crm', 'time_replay', default=False)


def allow_replay(allowed=True):
    "Let this process replay time (the test suite and in-process loaders)"
    if not config.has_section('crm'):
        config.add_section('crm')
    config.set('crm', 'time_replay', str(bool(allowed)))


def _replayed(key, real, type_):
    "The earlier time of type_ the context replays with key, or None"
    if not replay_allowed():
        return None
    value = Transaction().context.get(key)
    if isinstance(value, str):
        value = type_.fromisoformat(value)
    if type_ is dt.date and isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, type_) and value < real:
        return value
    return None


def now():
    "Return the current time (naive UTC, as Tryton stores date-times)"
    real = dt.datetime.now()
    return _replayed('crm_now', real, dt.datetime) or real


def today():
    "Return today's date in the company's time zone"
    real = Pool().get('ir.date').today()
    return _replayed('crm_today', real, dt.date) or real


def company_time(company, value):
    """Return the naive UTC date-time value as the wall-clock time of the
    company's time zone (UTC when it has none), for texts the server writes:
    the web client shows date-times in its own time zone, a text cannot."""
    zone = (
        tz.ZoneInfo(company.timezone) if company and company.timezone
        else tz.UTC)
    return value.replace(tzinfo=tz.UTC).astimezone(zone).replace(
        tzinfo=None)


def month_add(date, months):
    "Return the first day of the month that is months after date's month"
    index = date.year * 12 + date.month - 1 + months
    return date.replace(year=index // 12, month=index % 12 + 1, day=1)


def sql_date(value):
    "Read a date column the same on every backend"
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def add_interval(date, number, unit):
    """Return date moved by number months or days.

    Months keep the day of the month where it exists and stop at the last
    day of shorter months: January 31 plus one month is February 28 (or 29).
    """
    if unit == 'days':
        return date + dt.timedelta(days=number)
    # As relativedelta(months=number), several times faster: the
    # compliance lists compute a due date per customer and level.
    first = month_add(date, number)
    return first.replace(day=min(date.day, calendar.monthrange(
                first.year, first.month)[1]))
