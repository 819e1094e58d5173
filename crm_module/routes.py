"""HTTP routes through which the sync API feeds the ERP.

One call per batch, one transaction, authenticated with a
``res.user.application`` key of the ``crm_sync`` application.
"""
import functools

from trytond.protocols.wrappers import (
    HTTPStatus, Response, allow_null_origin, user_application, with_pool,
    with_transaction)
from trytond.protocols.jsonrpc import JSONEncoder, json
from trytond.transaction import Transaction
from trytond.wsgi import app

from .exceptions import SalesSummaryError

crm_sync = user_application('crm_sync')

PREFIX = '/<database_name>/crm/sales'


def _json(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data, cls=JSONEncoder), status=status,
        content_type='application/json')


def _company_context(pool):
    User = pool.get('res.user')
    return User.get_preferences(context_only=True)


def sync_route(path, method):
    """Register a route of the crm_sync application under PREFIX.

    The decorated function runs in a transaction (read-only for GET) with
    the context, and so the company, of the key's user."""
    def decorator(func):
        @app.route(PREFIX + path, methods=[method])
        @allow_null_origin
        @with_pool
        @with_transaction()
        @crm_sync
        @functools.wraps(func)
        def wrapper(request, pool):
            with Transaction().set_context(_company_context(pool)):
                return func(request, pool)
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
