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
