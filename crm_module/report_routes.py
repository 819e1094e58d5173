"""HTTP routes from which finance reads the CRM figures as JSON.

Authenticated with a ``res.user.application`` key of the ``crm_reports``
application; the routes read in a read-only transaction with the access
rights and record rules of the key's user. The figures come from the
reporting files (evaluation_reporting.py, tier_reporting.py,
complaint_reporting.py, visit_reporting.py) and from business_status.py,
with the same definitions as the screens; a route only checks its
parameters, every one of them (sync_api passes them on as they come), and
turns errors into JSON answers (the contract:
crm_module/doc/report_routes.md).
"""
import calendar
import datetime as dt
import functools
import re

from trytond.i18n import gettext
from trytond.model.exceptions import AccessError
from trytond.exceptions import UserError
from trytond.protocols.wrappers import (
    HTTPStatus, allow_null_origin, user_application, with_pool,
    with_transaction)
from trytond.transaction import Transaction
from trytond.wsgi import app

from . import evaluation_reporting, tier_reporting, visit_reporting
from .exceptions import (
    ReportNoFiguresError, ReportNotFoundError, ReportPeriodError)
from .routes import _company_context, _json

crm_reports = user_application('crm_reports')

PREFIX = '/<database_name>/crm/reports'
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
# the parameters of the paginated reports
PAGE = ('offset', 'limit')
GROUP_BY = ['category', 'severity', 'department', 'customer', 'month']

# used with fullmatch; ASCII digits only
_DATE = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}')
_MONTH = re.compile(r'([0-9]{4})-([0-9]{2})')
_PERIOD = re.compile(
    r'(?P<year>[0-9]{4})(?:-(?:H(?P<half>[12])|Q(?P<quarter>[1-4])'
    r'|(?P<month>[0-9]{2})))?')

# Error answers: (exception class, HTTP status, error code), first match wins
ERRORS = [
    (ReportPeriodError, HTTPStatus.BAD_REQUEST, 'invalid_parameter'),
    (ReportNotFoundError, HTTPStatus.NOT_FOUND, 'not_found'),
    (ReportNoFiguresError, HTTPStatus.CONFLICT, 'no_figures'),
    (AccessError, HTTPStatus.FORBIDDEN, 'forbidden'),
    (UserError, HTTPStatus.BAD_REQUEST, 'invalid_parameter'),
    ]


def invalid(field, message, **variables):
    "Return the error of a bad query parameter field"
    error = ReportPeriodError(gettext(message, **variables))
    error.field = field
    return error


def report_route(path, parameters, field=None):
    """Register a GET report route under PREFIX that takes the query
    parameters named in parameters, each at most once.

    The decorated function receives the request and the pool and returns
    the report as a dict; field names the parameter that bad parameter
    errors without their own field are about."""
    def decorator(func):
        @app.route(PREFIX + path, methods=['GET'])
        @allow_null_origin
        @with_pool
        @with_transaction(readonly=True)
        @crm_reports
        @functools.wraps(func)
        def wrapper(request, pool, **kwargs):
            context = _company_context(pool)
            context['_check_access'] = True
            with Transaction().set_context(context):
                try:
                    check_parameters(request, parameters)
                    return _json(func(request, pool, **kwargs))
                except UserError as error:
                    return _error(error, field)
        return wrapper
    return decorator


def check_parameters(request, parameters):
    """Refuse a query parameter that the report does not take, or that is
    given more than once"""
    for name in request.args:
        if name not in parameters:
            raise invalid(name, 'crm_module.msg_report_parameter_unknown',
                parameter=name, parameters=', '.join(parameters))
        if len(request.args.getlist(name)) > 1:
            raise invalid(name, 'crm_module.msg_report_parameter_repeated',
                parameter=name)


def _error(error, field):
    status, code = next((status, code) for class_, status, code in ERRORS
        if isinstance(error, class_))
    if status != HTTPStatus.BAD_REQUEST:
        field = None
    return _json({
            'error': code,
            'message': error.message,
            'field': getattr(error, 'field', field),
            }, status)


def parse_page(request):
    "Return the offset and limit of a paginated report"
    offset = _integer(request, 'offset')
    if offset is None:
        offset = 0
    elif offset < 0:
        raise invalid('offset', 'crm_module.msg_report_offset',
            parameter='offset', value=request.args['offset'])
    limit = _integer(request, 'limit')
    if limit is None:
        limit = DEFAULT_LIMIT
    elif not 1 <= limit <= MAX_LIMIT:
        raise invalid('limit', 'crm_module.msg_report_integer',
            parameter='limit', value=request.args['limit'], minimum=1,
            maximum=MAX_LIMIT)
    return offset, limit


def _integer(request, name):
    "Return the integer parameter name, None if missing, -1 if not one"
    value = request.args.get(name)
    if value is None:
        return None
    if re.fullmatch(r'[0-9]{1,18}', value):
        return int(value)
    return -1


def parse_date(request, name):
    "Return the required date parameter name (YYYY-MM-DD)"
    value = request.args.get(name, '')
    try:
        if _DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise invalid(name, 'crm_module.msg_report_date',
        parameter=name, value=value)


def parse_month(request, name='month'):
    "Return the first day of the month parameter (YYYY-MM)"
    value = request.args.get(name, '')
    match = _MONTH.fullmatch(value)
    try:
        if match:
            return dt.date(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        pass
    raise invalid(name, 'crm_module.msg_report_month',
        parameter=name, value=value)


def parse_period(request, name='period'):
    """Return the first and last day of the period parameter: a year, a
    half (YYYY-H1), a quarter (YYYY-Q1) or a month (YYYY-MM)"""
    value = request.args.get(name, '')
    match = _PERIOD.fullmatch(value)
    if match:
        year = int(match.group('year'))
        if match.group('half'):
            first, months = (int(match.group('half')) - 1) * 6 + 1, 6
        elif match.group('quarter'):
            first, months = (int(match.group('quarter')) - 1) * 3 + 1, 3
        elif match.group('month'):
            first, months = int(match.group('month')), 1
        else:
            first, months = 1, 12
        last = first + months - 1
        try:
            start = dt.date(year, first, 1)
            end = dt.date(year, last, calendar.monthrange(year, last)[1])
        except (ValueError, calendar.IllegalMonthError):
            pass
        else:
            return value, start, end
    raise invalid(name, 'crm_module.msg_report_period', value=value)


@report_route('/evaluations', PAGE)
def evaluations(request, pool):
    "The evaluations, newest period first"
    offset, limit = parse_page(request)
    return evaluation_reporting.report_list(offset, limit)


@report_route('/evaluations/<int(signed=True):evaluation_id>', PAGE)
def evaluation(request, pool, evaluation_id):
    "One evaluation with its lines in rank order"
    offset, limit = parse_page(request)
    return evaluation_reporting.report_lines(evaluation_id, offset, limit)


@report_route('/tiers', PAGE)
def tiers(request, pool):
    "The customers with a tier and their tier history"
    offset, limit = parse_page(request)
    return tier_reporting.report_roster(offset, limit)


@report_route('/business-status', ['month'], field='month')
def business_status(request, pool):
    "The monthly business status of the strategic and key customers"
    month = parse_month(request)
    BusinessStatus = pool.get('crm.business_status')
    return BusinessStatus.report_data(month)


@report_route('/complaints', ['from', 'to', 'group_by'])
def complaints(request, pool):
    "The complaint ledger figures of a date range by one grouping"
    Ledger = pool.get('crm.complaint.ledger')
    from_date = parse_date(request, 'from')
    to_date = parse_date(request, 'to')
    if from_date > to_date:
        raise invalid('from', 'crm_module.msg_report_date_order',
            from_date=from_date.isoformat(), to_date=to_date.isoformat())
    group_by = request.args.get('group_by', 'category')
    if group_by not in GROUP_BY:
        raise invalid('group_by', 'crm_module.msg_report_group_by',
            parameter='group_by', value=group_by,
            choices=', '.join(GROUP_BY))
    return Ledger.report_groups(from_date, to_date, group_by)


@report_route('/visits', ['period'])
def visits(request, pool):
    "Visit compliance per account manager and per customer of a period"
    period, from_date, to_date = parse_period(request)
    data = visit_reporting.report_compliance(from_date, to_date)
    return {'period': period, **data}
