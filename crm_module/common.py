import contextlib
import contextvars
import datetime as dt
import functools
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

from sql import Cast, Null
from sql.aggregate import Sum
from sql.conditionals import Case, NullIf
from sql.functions import Abs, Function, Round

from trytond import backend
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tools import timezone as tz
from trytond.transaction import Transaction

from .exceptions import WorkflowStateError

PERCENT_QUANTUM = Decimal('0.0001')


def requires_state(*states):
    """Refuse a workflow button on records that are not in one of states.

    Workflow.transition silently skips records in another state; approving
    or applying twice or out of order must be reported to the user instead.
    The button runs inside workflow() so that its writes are allowed.
    """
    def decorator(func):
        @functools.wraps(func)
        def wrapper(cls, records, *args, **kwargs):
            for record in records:
                if record.state not in states:
                    Button = Pool().get('ir.model.button')
                    action = Button.get_view_attributes(
                        cls.__name__, func.__name__).get('string')
                    raise WorkflowStateError(
                        gettext('crm_module.msg_wrong_state',
                            record=record.rec_name,
                            state=record.state_string,
                            action=action or func.__name__))
            with workflow():
                return func(cls, records, *args, **kwargs)
        return wrapper
    return decorator


class WorkflowGuardMixin:
    """Keep the workflow fields of a model to its buttons.

    A plain create or write (over RPC too) may not set the state or the
    stamps the buttons write, and may not edit a record its state locks
    (check_locked); copies start again from the initial state. A create may
    give a workflow field its default value, as the client does.
    _workflow_field_message names the message of the refused fields.
    """
    __slots__ = ()
    _workflow_fields = set()
    _workflow_field_message = None

    @classmethod
    def _refuse_workflow_fields(cls, fields_):
        if fields_:
            raise WorkflowStateError(gettext(
                    cls._workflow_field_message,
                    fields=', '.join(sorted(fields_))))

    @classmethod
    def check_locked(cls, records, values):
        "Refuse values that the state of records does not allow to change"

    @classmethod
    def create(cls, vlist):
        if not in_workflow():
            defaults = cls.default_get(
                list(cls._workflow_fields), with_rec_name=False)
            initial = defaults.get('state')
            for values in vlist:
                fields_ = {f for f in set(values) & cls._workflow_fields
                    if f != 'state' and values[f] != defaults.get(f)}
                if values.get('state', initial) != initial:
                    fields_ = fields_ or {'state'}
                cls._refuse_workflow_fields(fields_)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        if not in_workflow():
            actions = iter(args)
            for records, values in zip(actions, actions, strict=False):
                cls._refuse_workflow_fields(
                    set(values) & cls._workflow_fields)
                cls.check_locked(records, values)
        super().write(*args)

    @classmethod
    def copy(cls, records, default=None):
        default = default.copy() if default is not None else {}
        for name in cls._workflow_fields - {'state'}:
            default.setdefault(name, None)
        return super().copy(records, default=default)


class CustomerRecNameMixin:
    """Search the records of a customer by the customer's name.

    The client's quick search looks for the text in rec_name; records named
    after their customer are found by the customer's rec_name (its name,
    code or identifiers) at the path _customer_field, or by one of the
    model's own _rec_name_fields.
    """
    __slots__ = ()
    _customer_field = 'party'
    _rec_name_fields = ()

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('%s.rec_name' % cls._customer_field, operator, operand, *extra),
            *((field, operator, operand, *extra)
                for field in cls._rec_name_fields),
            ]


def to_the_minute(field):
    """Show a timestamp field to the minute: its seconds and microseconds
    tell a user nothing. Tryton validates the format of a date-time field
    against its value, so a date-time whose seconds count (a deadline met
    or breached by one second) keeps them."""
    assert field._type == 'timestamp', field
    field.format = '%H:%M'
    return field


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


def month_end_rates(currency, pairs):
    """Return the rates that convert amounts of (currency id, month) pairs
    into currency at the last day of each month, and the missing rates as
    "CODE date" texts; a pair without a rate is not in the rates."""
    Currency = Pool().get('currency.currency')
    rates, missing = {}, []
    for currency_id, month in sorted(set(pairs)):
        month_end = month_add(month, 1) - dt.timedelta(days=1)
        with Transaction().set_context(date=month_end):
            from_, to = Currency.browse([currency_id, currency.id])
            if not from_.rate or not to.rate:
                missing.append('%s %s' % (
                        (from_ if not from_.rate else to).code,
                        month_end.isoformat()))
            else:
                rates[currency_id, month] = to.rate / from_.rate
    return rates, missing


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


_in_workflow = contextvars.ContextVar('crm_in_workflow', default=False)


@contextlib.contextmanager
def workflow():
    """Mark the writes done by a workflow button.

    State and stamp fields may only change inside a button; a plain write
    over RPC must not be able to move a record to another state.
    """
    token = _in_workflow.set(True)
    try:
        yield
    finally:
        _in_workflow.reset(token)


def in_workflow():
    return _in_workflow.get()


def invalidate_cache(Model, ids):
    "Forget cached values of records changed by raw SQL in this transaction"
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            cache_cls = cache[Model.__name__]
            for id_ in ids:
                cache_cls.pop(id_, None)


def sql_date(value):
    "Read a date column the same on every backend"
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def report_date(value):
    "Return a date (or the date of a timestamp) as ISO text for the reports"
    value = sql_date(value)
    return value.isoformat() if value is not None else None


def report_decimal(value, digits):
    """Return value as the decimal text a screen shows with digits decimals.

    Floats are rounded from their exact binary value, half away from zero,
    as the client rounds them; Numeric values from SQLite may come back with
    any number of decimals."""
    if value is None:
        return None
    if value.__class__ is not Decimal:
        value = Decimal(value if isinstance(value, (float, int)) else str(value))
    quantum = _QUANTUMS.get(digits)
    if quantum is None:
        return format(value.quantize(
                Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP), 'f')
    # str is faster than format and never uses an exponent at these digits
    return str(value.quantize(quantum, rounding=ROUND_HALF_UP))


_QUANTUMS = {d: Decimal(1).scaleb(-d) for d in range(6)}


def report_number_text(text, digits):
    """Return report_decimal of a Numeric column read as text (see
    numeric_text); text that already has digits decimals is used as it
    is, which spares two Decimal conversions per value on large reports"""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode()
    integer, dot, fraction = text.partition('.')
    if (dot and len(fraction) == digits and fraction.isdigit()
            and integer.lstrip('-').isdigit()):
        return text
    return report_decimal(Decimal(text), digits)


def numeric_text(column):
    "Return the SQL of a Numeric column as its text, for report_number_text"
    return Cast(column, 'VARCHAR')


def today():
    """Return today's date for the relationship rules.

    The context key crm_today replays an earlier day (scenarios, the demo
    loader); it can only move time back, so that no rule refusing dates in
    the future can be bypassed by a client's context.
    """
    Date = Pool().get('ir.date')
    real = Date.today()
    frozen = Transaction().context.get('crm_today')
    if isinstance(frozen, str):
        frozen = dt.date.fromisoformat(frozen)
    if isinstance(frozen, dt.datetime):
        frozen = frozen.date()
    if isinstance(frozen, dt.date) and frozen < real:
        return frozen
    return real


def add_interval(date, number, unit):
    """Return date moved by number months or days.

    Months keep the day of the month where it exists and stop at the last
    day of shorter months: January 31 plus one month is February 28 (or 29).
    """
    if unit == 'days':
        return date + dt.timedelta(days=number)
    return date + relativedelta(months=number)
