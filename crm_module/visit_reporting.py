"""The finance report of visit compliance: per responsible employee and
per customer and level over a period (report route /visits), as
crm_module/doc/report_routes.md describes it."""
from sql.conditionals import Case

from trytond.pool import Pool
from trytond.transaction import Transaction

from .clock import sql_date, today
from .numeric import achieved_percent
from .reporting import check_report_access, report_date, report_decimal
from .visit import LEVELS


def report_compliance(from_date, to_date):
    """Return the finance report of visit compliance from from_date to
    to_date: the figures of the compliance screens per responsible
    employee and those of each customer and required level"""
    pool = Pool()
    Manager = pool.get('crm.visit.compliance.manager')
    Compliance = pool.get('crm.visit.compliance')
    Party = pool.get('party.party')
    Tier = pool.get('crm.tier')
    Employee = pool.get('company.employee')
    check_report_access([Model.__name__
            for Model in [Compliance, Party, Tier, Employee, Manager]])
    customers, responsible = _customer_rows(from_date, to_date)
    manager_rows = _manager_rows(customers, responsible)
    required = sum(c['required'] for c in customers)
    done = sum(c['done'] for c in customers)
    return {
        'from': from_date.isoformat(),
        'to': to_date.isoformat(),
        'managers': manager_rows,
        'customers': customers,
        'totals': {
            'required': required,
            'done': done,
            'rate': report_decimal(
                achieved_percent(done, required), Manager.rate.digits[1]),
            },
        }


def _manager_rows(customers, responsible):
    """Return the report objects of the responsible employees (a second
    row for the unassigned levels charged to a key account manager) with
    their figures, by name: the sums of the customer rows, as
    crm.visit.compliance.manager groups them; responsible gives the
    employee id and the party id of each customer row"""
    pool = Pool()
    Manager = pool.get('crm.visit.compliance.manager')
    Employee = pool.get('company.employee')
    groups = {}
    for row, (employee, party) in zip(customers, responsible, strict=True):
        group = groups.setdefault((employee, row['unassigned']), {
                'parties': set(), 'required': 0, 'done': 0})
        group['parties'].add(party)
        group['required'] += row['required']
        group['done'] += row['done']
    names = {e.id: e.rec_name for e in Employee.browse(
            [e for e, _ in groups if e is not None])}
    return sorted(({
                'employee': names.get(employee),
                'unassigned': unassigned,
                'customers': len(group['parties']),
                'required': group['required'],
                'done': group['done'],
                'rate': report_decimal(
                    achieved_percent(group['done'], group['required']),
                    Manager.rate.digits[1]),
                } for (employee, unassigned), group in groups.items()),
        key=lambda r: (r['employee'] is None, r['employee'] or '',
            r['unassigned']))


def _customer_rows(from_date, to_date):
    """Return the report objects of each customer and required level with
    its figures from from_date to to_date, by party code and level, and
    the ids of the responsible employee and of the party of each"""
    pool = Pool()
    Compliance = pool.get('crm.visit.compliance')
    Party = pool.get('party.party')
    Tier = pool.get('crm.tier')
    Employee = pool.get('company.employee')
    query = Compliance.table_query()
    party = Party.__table__()
    tier = Tier.__table__()
    employee = Employee.__table__()
    manager = Party.__table__()
    responsible_employee = Employee.__table__()
    responsible = Party.__table__()
    level_order = Case(*((query.level == level, i)
            for i, (level, _) in enumerate(LEVELS)), else_=len(LEVELS))
    # The rows the user may read, by the record rules; a query of the view
    # without its last visits, which the rules do not need.
    with Transaction().set_context(_crm_without_last_visit=True):
        readable = Compliance.search([], order=[], query=True)
    cursor = Transaction().connection.cursor()
    cursor.execute(*query
        .join(party, condition=query.party == party.id)
        .join(tier, condition=query.tier == tier.id)
        .join(employee, 'LEFT',
            condition=query.account_manager == employee.id)
        .join(manager, 'LEFT', condition=employee.party == manager.id)
        .join(responsible_employee, 'LEFT',
            condition=query.responsible == responsible_employee.id)
        .join(responsible, 'LEFT',
            condition=responsible_employee.party == responsible.id)
        .select(
            query.company, query.party, query.level, query.interval,
            query.interval_unit, party.code, party.name, tier.code,
            manager.name, query.last_visit, query.tier_since,
            responsible.name, query.unassigned, query.responsible,
            where=query.id.in_(readable),
            order_by=[party.code, query.party, level_order]))
    rows = list(cursor)
    figures = Compliance.period_figures(
        [r[:5] for r in rows], from_date, to_date)
    date = today()
    customers, responsible_ids, dues = [], [], {}
    for row, (required, done) in zip(rows, figures, strict=True):
        (_, party_id, level, interval, unit, code, name, tier_code,
            account_manager, last_visit, tier_since, responsible_name,
            unassigned, responsible_id) = row
        last_visit = sql_date(last_visit)
        # many rows share a base date and interval
        key = (last_visit, sql_date(tier_since), interval, unit)
        if key not in dues:
            dues[key] = Compliance.compute_due(*key, date)
        due, days, _ = dues[key]
        responsible_ids.append((responsible_id, party_id))
        customers.append({
                'party_code': code,
                'party_name': name,
                'tier_code': tier_code,
                'level': level,
                'account_manager': account_manager,
                'responsible': responsible_name,
                'unassigned': bool(unassigned),
                'last_visit': report_date(last_visit),
                'next_due': report_date(due),
                'overdue_days': days,
                'required': required,
                'done': done,
                })
    return customers, responsible_ids
