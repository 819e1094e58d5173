"Helpers shared by the scenarios"
from decimal import Decimal

from proteus import Model

from trytond.modules.company.tests.tools import create_company


def create_cny_company(config=None):
    "Create the company in Chinese yuan, the currency of the policies"
    Currency = Model.get('currency.currency', config=config)
    currency = Currency(
        name="Chinese Yuan", code='CNY', symbol='¥',
        rounding=Decimal('0.01'))
    currency.save()
    return create_company(currency=currency, config=config)


def summary(customer, month, revenue, cost='0', currency='CNY',
        source='erp', quantity='1', line_count=1, last_sale_date=None):
    "A row for crm.sales.summary.upsert with amounts as decimal strings"
    return {
        'source': source, 'customer': customer, 'month': month,
        'currency': currency, 'revenue': str(revenue), 'cost': str(cost),
        'quantity': str(quantity), 'line_count': line_count,
        'last_sale_date': last_sale_date,
        }


def call_as_server(config, model, method, records, *args):
    """Call the class method of model on records the way server code does
    (another module, a scheduled action): in one transaction of config's
    user, without the access and button checks of a call over RPC"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(
            config.database_name, config.user, context=config.context):
        Model = Pool(config.database_name).get(model)
        getattr(Model, method)(
            Model.browse([r.id for r in records]), *args)
