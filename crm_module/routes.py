"""HTTP routes through which the sync API feeds the ERP.

One call per batch, one transaction, authenticated with a
``res.user.application`` key of the ``crm_sync`` application.
"""
import functools

from trytond.protocols.wrappers import (
    HTTPStatus, Response, allow_null_origin, user_application, with_pool,
    with_transaction)
from trytond.protocols.jsonrpc import JSONEncoder, json
from trytond.transaction import Transaction, without_check_access
from trytond.wsgi import app

from .complaint_intake import IntakeError
from .exceptions import SalesSummaryError

crm_sync = user_application('crm_sync')

PREFIX = '/<database_name>/crm/sales'
COMPLAINTS_PREFIX = '/<database_name>/crm/complaints'


def _json(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data, cls=JSONEncoder), status=status,
        content_type='application/json')


def _company_context(pool):
    User = pool.get('res.user')
    return User.get_preferences(context_only=True)


def sync_route(path, method, prefix=PREFIX):
    """Register a route of the crm_sync application under prefix.

    The decorated function runs in a transaction (read-only for GET) with
    the context, and so the company, of the key's user."""
    def decorator(func):
        @app.route(prefix + path, methods=[method])
        @allow_null_origin
        @with_pool
        @with_transaction()
        @crm_sync
        @functools.wraps(func)
        def wrapper(request, pool, **arguments):
            with Transaction().set_context(_company_context(pool)):
                return func(request, pool, **arguments)
        return wrapper
    return decorator


@sync_route('/summaries', 'POST')
def sales_summaries(request, pool):
    """Upsert absolute monthly totals with crm.sales.summary upsert.

    Body: ``{"rows": [{"source", "customer", "month": "YYYY-MM",
    "currency", "revenue", "cost", "quantity", "line_count",
    "last_sale_date"}]}`` with amounts as decimal strings.
    Answers upsert's result, or 422 with every row error and stores
    nothing when one row is wrong.
    """
    Summary = pool.get('crm.sales.summary')
    data = request.parsed_data
    rows = data.get('rows') if isinstance(data, dict) else None
    try:
        return _json(Summary.upsert(rows))
    except SalesSummaryError as error:
        if not error.row_errors:
            raise
        return _json({'errors': error.row_errors},
            HTTPStatus.UNPROCESSABLE_ENTITY)


@sync_route('/unmatched', 'GET')
def sales_unmatched(request, pool):
    "List the customer references that still match no party"
    Summary = pool.get('crm.sales.summary')
    return _json({'unmatched': Summary.unmatched_customers()})


@sync_route('/intake', 'POST', prefix=COMPLAINTS_PREFIX)
def complaint_intake(request, pool):
    """Create a complaint sent by another system, once per (source,
    external id), with crm.complaint intake.

    Body: ``{"source", "external_id", "customer", "received_at",
    "category", "severity", "description", "contact"}``. Answers
    ``{"status": "created" | "existing", "number", "state", "outcome"}``,
    ``{"status": "unmatched"}`` while no party matches the customer
    (nothing stored), or 422 ``{"error": "invalid", "field", "message"}``.
    """
    Complaint = pool.get('crm.complaint')
    try:
        # The crm_sync key is the authorisation of the sending system: its
        # user (in CRM Sales Sync only) needs no rights on the complaint
        # and the records its creation touches.
        with without_check_access():
            status, complaint = Complaint.intake(request.parsed_data)
    except IntakeError as error:
        return _json({
                'error': 'invalid', 'field': error.field,
                'message': error.message,
                }, HTTPStatus.UNPROCESSABLE_ENTITY)
    if complaint is None:
        return _json({'status': status})
    return _json({'status': status, **complaint.intake_status()})


@sync_route(
    '/intake/<source>/<path:external_id>', 'GET', prefix=COMPLAINTS_PREFIX)
def complaint_intake_status(request, pool, source, external_id):
    "The number, state and outcome of a complaint sent by another system"
    Complaint = pool.get('crm.complaint')
    complaint = Complaint.find_intake(source, external_id)
    if complaint is None:
        return _json({
                'error': 'not_found', 'field': None,
                'message': "No complaint was sent as %s/%s." % (
                    source, external_id),
                }, HTTPStatus.NOT_FOUND)
    return _json({'status': 'existing', **complaint.intake_status()})
