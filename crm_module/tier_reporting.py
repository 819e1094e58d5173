"""The finance report of the customer tiers: the current roster with the
tier history of each customer (report route /tiers), as
crm_module/doc/report_routes.md describes it."""
from collections import defaultdict

from sql import Null
from sql.aggregate import Count
from sql.conditionals import Case

from trytond import backend
from trytond.pool import Pool
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .classification import qualified_sql
from .reporting import check_report_access, report_date


def report_roster(offset=0, limit=1000):
    """Return the finance report of the current roster: the customers with a
    tier, highest tier first then by code, each with its tier history newest
    first"""
    pool = Pool()
    Party = pool.get('party.party')
    Tier = pool.get('crm.tier')
    History = pool.get('crm.tier.history')
    Employee = pool.get('company.employee')
    check_report_access([Employee.__name__, Party.__name__, Tier.__name__,
            History.__name__])
    party = Party.__table__()
    tier = Tier.__table__()
    employee = Employee.__table__()
    manager = Party.__table__()
    cursor = Transaction().connection.cursor()

    # search applies the access rights and the record rules of the user
    parties = Party.search([('crm_tier', '!=', None)], query=True)
    # a party keeps a tier that was deactivated since
    tiers = Tier.search([('active', 'in', [True, False])], query=True)
    from_ = (party
        .join(tier, condition=party.crm_tier == tier.id)
        .join(employee, 'LEFT',
            condition=party.crm_account_manager == employee.id)
        .join(manager, 'LEFT', condition=employee.party == manager.id))
    where = party.id.in_(parties) & tier.id.in_(tiers)
    cursor.execute(*from_.select(
            party.id, party.code, party.name, tier.id, tier.code,
            qualified_sql(party.id, Transaction().context.get('company'),
                'designated_strategic'),
            manager.name, party.crm_tier_since,
            where=where,
            order_by=[
                Case((tier.sequence == Null, 0), else_=1),
                tier.sequence.asc, tier.id.asc, party.code.asc,
                party.id.asc],
            limit=limit, offset=offset))
    rows = list(cursor)
    cursor.execute(*from_.select(Count(party.id), where=where))
    total, = cursor.fetchone()

    tier_names = {t.id: t.name for t in Tier.browse({r[3] for r in rows})}
    histories = _histories([r[0] for r in rows])
    customers = [{
            'party_code': code,
            'party_name': name,
            'tier_code': tier_code,
            'tier_name': tier_names[tier_id],
            'strategic': bool(strategic),
            'account_manager': account_manager,
            'since': report_date(since),
            'history': histories[party_id],
            }
        for (party_id, code, name, tier_id, tier_code, strategic,
            account_manager, since) in rows]
    return {
        'customers': customers,
        'total': total,
        'offset': offset,
        'limit': limit,
        }


def _histories(party_ids):
    "Return the report objects of the tier history of parties, newest first"
    pool = Pool()
    History = pool.get('crm.tier.history')
    Tier = pool.get('crm.tier')
    Evaluation = pool.get('crm.evaluation')
    User = pool.get('res.user')
    history = History.__table__()
    from_tier = Tier.__table__()
    to_tier = Tier.__table__()
    evaluation = Evaluation.__table__()
    user = User.__table__()
    cursor = Transaction().connection.cursor()
    histories = defaultdict(list)
    for sub_ids in grouped_slice(party_ids, backend.MAX_QUERY_PARAMS):
        readable = History.search(
            [('party', 'in', list(sub_ids))], query=True)
        cursor.execute(*history
            .join(from_tier, 'LEFT',
                condition=history.from_tier == from_tier.id)
            .join(to_tier, 'LEFT',
                condition=history.to_tier == to_tier.id)
            .join(evaluation, 'LEFT',
                condition=history.evaluation == evaluation.id)
            .join(user, 'LEFT', condition=history.user == user.id)
            .select(
                history.party, history.date, from_tier.code,
                to_tier.code, evaluation.name, user.name,
                where=history.id.in_(readable),
                order_by=[history.date.desc, history.id.desc]))
        for party, date, from_code, to_code, name, user_name in cursor:
            histories[party].append({
                    'date': report_date(date),
                    'from_tier': from_code,
                    'to_tier': to_code,
                    'evaluation': name,
                    'user': user_name,
                    })
    return histories
