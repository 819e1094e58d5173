"""What the report routes and their builders share: the access check of
a report and the formatting of its figures as JSON values."""
from decimal import ROUND_HALF_UP, Decimal

from trytond.i18n import gettext
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.transaction import Transaction

from .clock import sql_date


def check_report_access(models, company=False):
    """Check that the user may read the models of a finance report and, with
    company, that the company of the context, whose figures the report
    gives, is one of the user's companies; raise AccessError otherwise.

    The reports read their figures with SQL, to which neither the access
    rights nor the record rules apply: this is the gate of every report,
    called first by each one (crm_module/doc/report_routes.md). Server code
    reads without _check_access, and every check passes."""
    pool = Pool()
    ModelAccess = pool.get('ir.model.access')
    User = pool.get('res.user')
    transaction = Transaction()
    for model in models:
        ModelAccess.check(model, 'read')
    if company and transaction.check_access and transaction.user:
        companies = {c.id for c in User(transaction.user).companies}
        if transaction.context.get('company') not in companies:
            raise AccessError(gettext(
                    'ir.msg_access_rule_error',
                    **pool.get(models[0]).__names__()))


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
