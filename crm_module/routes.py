"""HTTP routes through which the sync API feeds the ERP.

One call per batch, one transaction, authenticated with a
``res.user.application`` key of the ``crm_sync`` application.
"""
from trytond.protocols.wrappers import (
    HTTPStatus, Response, allow_null_origin, user_application, with_pool,
    with_transaction)
from trytond.protocols.jsonrpc import JSONEncoder, json
from trytond.transaction import Transaction
from trytond.wsgi import app

crm_sync = user_application('crm_sync')


def _json(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data, cls=JSONEncoder), status=status,
        content_type='application/json')


def _company_context(pool):
    User = pool.get('res.user')
    return User.get_preferences(context_only=True)


@app.route('/<database_name>/crm/sales/summaries', methods=['POST'])
@allow_null_origin
@with_pool
@with_transaction(readonly=False)
@crm_sync
def sales_summaries(request, pool):
    """Upsert absolute monthly totals.

    Body: ``{"rows": [{"source", "customer", "month": "YYYY-MM",
    "currency", "revenue", "cost", "quantity", "line_count",
    "last_sale_date"}]}`` with amounts as decimal strings.
    Answers 422 with every row error and stores nothing when one row is
    wrong.
    """
    Summary = pool.get('crm.sales.summary')
    data = request.parsed_data
    if not isinstance(data, dict) or 'rows' not in data:
        return _json({'errors': [{'index': None, 'field': 'rows',
                        'message': "a JSON object with 'rows' is expected"}]},
            HTTPStatus.UNPROCESSABLE_ENTITY)
    with Transaction().set_context(_company_context(pool)):
        # Rows are parsed once: errors answer 422, parsed rows are stored.
        rows, errors = Summary.parse_rows(data['rows'])
        if errors:
            return _json(
                {'errors': errors}, HTTPStatus.UNPROCESSABLE_ENTITY)
        Summary._check_upsert()
        return _json(Summary._upsert_parsed(rows))


@app.route('/<database_name>/crm/sales/unmatched', methods=['GET'])
@allow_null_origin
@with_pool
@with_transaction(readonly=True)
@crm_sync
def sales_unmatched(request, pool):
    "List the customer references that still match no party"
    Summary = pool.get('crm.sales.summary')
    with Transaction().set_context(_company_context(pool)):
        return _json({'unmatched': [
                    {'source': s, 'customer': c, 'summaries': n}
                    for s, c, n in Summary.unmatched_customers()]})
