"""The finance reports of the customer evaluations: the evaluations
(report route /evaluations) and the lines of one (/evaluations/<id>), as
crm_module/doc/report_routes.md describes them."""
from sql import Null
from sql.aggregate import Sum
from sql.conditionals import Case

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from .numeric import exact_sum, from_exact_sum, numeric_text
from .reporting import (
    check_report_access, report_date, report_decimal, report_number_text)
from .evaluation import AMOUNT, PERCENT
from .exceptions import ReportNoFiguresError, ReportNotFoundError


def report_list(offset=0, limit=1000):
    """Return the finance report of the evaluations the user may read,
    newest period first"""
    Evaluation = Pool().get('crm.evaluation')
    check_report_access([Evaluation.__name__])
    page = Evaluation.search([], offset=offset, limit=limit, query=True)
    return {
        'evaluations': _evaluation_rows(page),
        'total': Evaluation.search([], count=True),
        'offset': offset,
        'limit': limit,
        }


def report_lines(evaluation_id, offset=0, limit=1000):
    """Return the finance report of one evaluation with its lines in rank
    order.

    Unknown (or not readable) evaluations raise ReportNotFoundError, draft
    ones, which have no figures yet, ReportNoFiguresError."""
    pool = Pool()
    Evaluation = pool.get('crm.evaluation')
    check_report_access([Evaluation.__name__, 'crm.evaluation.line',
            'party.party', 'crm.tier'])
    # ids are 32-bit integers on every backend
    ids = Evaluation.search([('id', '=', evaluation_id)], query=True)
    evaluations = (_evaluation_rows(ids)
        if 0 < evaluation_id < 2 ** 31 else [])
    if not evaluations:
        raise ReportNotFoundError(gettext(
                'crm_module.msg_report_evaluation_unknown',
                evaluation=evaluation_id))
    evaluation, = evaluations
    if evaluation['state'] == 'draft':
        raise ReportNoFiguresError(gettext(
                'crm_module.msg_report_evaluation_draft',
                evaluation=evaluation['name']))
    lines, totals = _line_rows(evaluation_id, offset, limit)
    return {
        'evaluation': evaluation,
        'lines': lines,
        'totals': totals,
        'total': evaluation['customer_count'],
        'offset': offset,
        'limit': limit,
        }


def _evaluation_rows(ids_query):
    "Return the report objects of the evaluations selected by ids_query"
    pool = Pool()
    Evaluation = pool.get('crm.evaluation')
    Company = pool.get('company.company')
    Currency = pool.get('currency.currency')
    User = pool.get('res.user')
    evaluation = Evaluation.__table__()
    company = Company.__table__()
    currency = Currency.__table__()
    approver = User.__table__()
    applier = User.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*evaluation
        .join(company, condition=evaluation.company == company.id)
        .join(currency, condition=company.currency == currency.id)
        .join(approver, 'LEFT',
            condition=evaluation.approved_by == approver.id)
        .join(applier, 'LEFT',
            condition=evaluation.applied_by == applier.id)
        .select(
            evaluation.id, evaluation.name, evaluation.period_type,
            evaluation.measure, evaluation.start_date,
            evaluation.end_date, evaluation.state, currency.code,
            evaluation.company_revenue, evaluation.company_margin,
            evaluation.unmatched_revenue,
            approver.name, evaluation.approved_at,
            applier.name, evaluation.applied_at,
            where=evaluation.id.in_(ids_query),
            order_by=[evaluation.end_date.desc, evaluation.id.desc]))
    rows = list(cursor)
    counts = Evaluation.get_counts(
        Evaluation.browse([r[0] for r in rows]),
        ['customer_count', 'change_count'])
    digits = AMOUNT[1]
    return [{
            'id': id_,
            'name': name,
            'period_type': period_type,
            'measure': measure,
            'start_date': report_date(start_date),
            'end_date': report_date(end_date),
            'state': state,
            'currency': currency_code,
            'company_revenue': report_decimal(company_revenue, digits),
            'company_margin': report_decimal(company_margin, digits),
            'unmatched_revenue': report_decimal(unmatched_revenue, digits),
            'customer_count': counts['customer_count'][id_],
            'change_count': counts['change_count'][id_],
            'approved_by': approved_by,
            'approved_date': report_date(approved_at),
            'applied_by': applied_by,
            'applied_date': report_date(applied_at),
            }
        for (id_, name, period_type, measure, start_date, end_date,
            state, currency_code, company_revenue, company_margin,
            unmatched_revenue, approved_by, approved_at, applied_by,
            applied_at) in rows]


def _line_rows(evaluation_id, offset, limit):
    """Return the report objects of a page of the lines of an evaluation
    in rank order and the totals of all its lines.

    The lines are read with SQL: an evaluation may have tens of
    thousands of customers."""
    Line = Pool().get('crm.evaluation.line')
    satisfaction = Line.satisfaction.digits[1]
    lines = [_line_row(row, satisfaction)
        for row in _line_page(evaluation_id, offset, limit)]
    return lines, _line_totals(evaluation_id)


def _line_page(evaluation_id, offset, limit):
    """Return the rows of a page of the lines of an evaluation in rank
    order (lines without rank last) as _line_row reads them"""
    pool = Pool()
    Line = pool.get('crm.evaluation.line')
    Party = pool.get('party.party')
    Tier = pool.get('crm.tier')
    line = Line.__table__()
    party = Party.__table__()
    current = Tier.__table__()
    proposed = Tier.__table__()
    override = Tier.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*line
        .join(party, condition=line.party == party.id)
        .join(current, 'LEFT', condition=line.current_tier == current.id)
        .join(proposed, 'LEFT',
            condition=line.proposed_tier == proposed.id)
        .join(override, 'LEFT',
            condition=line.override_tier == override.id)
        .select(
            line.rank, party.code, party.name,
            *map(numeric_text, [line.revenue, line.cost,
                    line.gross_margin, line.margin_rate, line.amount,
                    line.share, line.cumulative_share]),
            line.abc_class, numeric_text(line.previous_revenue),
            numeric_text(line.growth), line.order_count,
            line.last_sale_date, line.designated, line.big_customer,
            line.complaint_general, line.complaint_serious,
            line.complaint_very_serious, numeric_text(line.satisfaction),
            current.code, proposed.code, override.code,
            where=line.evaluation == evaluation_id,
            order_by=[
                Case((line.rank == Null, 1), else_=0), line.rank.asc,
                line.id.asc],
            limit=limit, offset=offset))
    return cursor.fetchall()


def _line_row(row, satisfaction_digits):
    """Return the report object of a line from its row of _line_page, the
    satisfaction with satisfaction_digits"""
    (rank, code, name, revenue, cost, gross_margin, margin_rate,
        amount_, share, cumulative_share, abc_class, previous_revenue,
        growth, order_count, last_sale_date, designated, big_customer,
        general, serious, very_serious, satisfaction, current_tier,
        proposed_tier, override_tier) = row
    amount, percent = AMOUNT[1], PERCENT[1]
    number = report_number_text
    tier = override_tier or proposed_tier
    return {
        'rank': rank,
        'party_code': code,
        'party_name': name,
        'revenue': number(revenue, amount),
        'cost': number(cost, amount),
        'gross_margin': number(gross_margin, amount),
        'margin_rate': number(margin_rate, percent),
        'amount': number(amount_, amount),
        'share': number(share, percent),
        'cumulative_share': number(cumulative_share, percent),
        'abc_class': abc_class or None,
        'previous_revenue': number(previous_revenue, amount),
        'growth': number(growth, percent),
        'order_count': order_count,
        'last_sale_date': report_date(last_sale_date),
        'designated': bool(designated),
        'big_customer': bool(big_customer),
        'complaint_general': general,
        'complaint_serious': serious,
        'complaint_very_serious': very_serious,
        'satisfaction': number(satisfaction, satisfaction_digits),
        'current_tier': current_tier,
        'proposed_tier': proposed_tier,
        'override_tier': override_tier,
        'tier': tier,
        'changed': tier != current_tier,
        }


def _line_totals(evaluation_id):
    "Return the totals of all the lines of an evaluation"
    Line = Pool().get('crm.evaluation.line')
    line = Line.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*line.select(
            exact_sum(line.revenue), exact_sum(line.cost),
            exact_sum(line.gross_margin), Sum(line.order_count),
            where=line.evaluation == evaluation_id))
    revenue, cost, gross_margin, order_count = cursor.fetchone()
    amount = AMOUNT[1]
    return {
        'revenue': report_decimal(from_exact_sum(revenue), amount),
        'cost': report_decimal(from_exact_sum(cost), amount),
        'gross_margin': report_decimal(
            from_exact_sum(gross_margin), amount),
        'order_count': int(order_count or 0),
        }
