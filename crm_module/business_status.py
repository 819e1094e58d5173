"""The monthly business status report of strategic and key customers
(战略客户业务状况分析报告表)."""
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

from sql import Literal, Null, Window
from sql.aggregate import Min, Sum
from sql.conditionals import Case
from sql.functions import RowNumber

from trytond.i18n import gettext
from trytond.model import Model, ModelView, fields
from trytond.pool import Pool
from trytond.report import Report
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateReport, StateView, Wizard

from .clock import month_add, sql_date as _date, today
from .reporting import check_report_access, report_decimal
from .exceptions import (
    MissingRateError, ReportNoFiguresError, ReportPeriodError)

CENT = Decimal('0.01')
PROBLEM_CATEGORIES = {
    'quality': 'quality_problems',
    'delivery': 'delivery_problems',
    'service': 'service_problems',
    }
SERIOUS_SEVERITIES = ['serious', 'very_serious']
SALES_FIELDS = [
    'sales_month', 'sales_previous_month', 'sales_same_month_last_year',
    'sales_ytd', 'sales_plan_to_date']
MONEY_FIELDS = [*SALES_FIELDS, 'plan_target']
COUNT_FIELDS = [
    'quality_problems', 'delivery_problems', 'service_problems',
    'serious_complaints', 'visits_done', 'visits_required']


def percent_change(value, base):
    """Return the change of value against base in percent, 2 digits rounded
    half up; None unless base is positive (as the growth of evaluations)"""
    if base is None or base <= 0:
        return None
    return ((value - base) * 100 / base).quantize(CENT, ROUND_HALF_UP)


def achievement(actual, target):
    "Return actual in percent of target, 2 digits rounded half up"
    if actual is None or target is None or target <= 0:
        return None
    return (actual * 100 / target).quantize(CENT, ROUND_HALF_UP)


def _number(value):
    "Return a decimal without the zeros of its fraction: 2.00 -> 2"
    if value is None:
        return ''
    value = value.normalize()
    return f'{value:f}'


def _sales_between(monthly, start, end):
    "Return the sum of the sales per month of monthly from start to end"
    return sum((v for m, v in monthly.items() if start <= m <= end),
        Decimal(0))


class BusinessStatus(Model):
    """Monthly business status of the customers whose tier is in the report.

    Definitions (for month M of the company in the context):

    - customers: the active parties whose tier at the end of M is a tier
      flagged "In Monthly Status Report": the to-tier of the last tier
      history record of the company dated on or before the end of M; for a
      party whose history starts after M, the from-tier of its first
      record; for a party without history, its current tier;
    - sales: revenue of the monthly sales summaries in company currency
      (other currencies at the rate of each month's last day, rounded to
      the cent per month); month M, the previous month, the same month
      last year, the calendar year to date (January to M of M's year) and
      the 12 months ending with M;
    - plan: the customer's approved or closed account plan whose period
      overlaps M; if two do (one ends and the next starts in M), the one
      starting last; its period is its start and end dates. Of a revised
      plan, the version in force on the last day of M, or on the plan's
      end date when the plan ends before: the latest approved version
      (approved, closed or superseded since) whose effective date is on or
      before that day; a version superseded by a revision approved later
      counts for the months before the revision's effective date;
    - plan target: the sum of the targets of that version's revenue
      objectives, for the plan's whole period (not pro-rated);
    - plan period sales to date: the revenue from the month of the plan's
      start date to the end of M; empty without a plan target;
    - plan completion: the plan period sales to date in percent of the
      plan target (the calendar year to date is not compared with the
      target: it covers another period unless the plan starts in January);
    - fluctuation: change of the month's sales in percent of the previous
      month's, and of the same month last year's; empty unless that base
      is positive (as the growth of evaluations);
    - new business: the new products objectives of that version with
      their actual and target;
    - problems: complaints received in M, not cancelled, of category
      quality, delivery and service; serious complaints: of severity
      serious or very serious, any category;
    - visits: required and done in M per the visit policy, the same
      figures as the visit compliance screens for M.
    """
    __name__ = 'crm.business_status'
    __string__ = "Business Status"

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__.update({
                'report_data': RPC(),
                })

    @classmethod
    def report_data(cls, month):
        """Return the figures of month (a date in the month) for the
        company of the context, as the reports contract's route 4 serves
        them"""
        check_report_access([cls.__name__], company=True)
        company_id = Transaction().context.get('company')
        with without_check_access():
            return cls._report_data(_date(month).replace(day=1), company_id)

    @classmethod
    def _report_data(cls, month, company_id):
        """Return the figures of month (the first day of the month) for
        company_id, as report_data without its access checks"""
        Company = Pool().get('company.company')
        company = Company(company_id)
        month_end = month_add(month, 1) - dt.timedelta(days=1)
        evaluation = cls._report_evaluation(company, month, month_end)

        customers = cls._customers(company, month_end)
        plans = cls._plans(company, month, month_end)
        first_month = min([month_add(month, -12), month.replace(month=1)]
            + [p['first_month'] for p in plans.values()])
        sales = cls._sales(company, first_month, month_end)
        complaints = cls._complaints(company, month, month_end)
        visits = cls._visits(company, month, month_end)

        trend_months = [(m, m.strftime('%Y-%m'))
            for m in (month_add(month, -i) for i in range(11, -1, -1))]
        totals = dict.fromkeys(MONEY_FIELDS, Decimal(0))
        totals.update(dict.fromkeys(COUNT_FIELDS, 0))
        rows = []
        for customer in customers:
            party_id = customer[0]
            monthly = sales.get(party_id, {})
            row = cls._customer_figures(month, customer, monthly,
                plans.get(party_id, {}), complaints.get(party_id, {}),
                visits.get(party_id, (0, 0)))
            for name in totals:
                if row[name] is not None:
                    totals[name] += row[name]
            rows.append(cls._customer_report(row, monthly, trend_months))
        for name in MONEY_FIELDS:
            totals[name] = report_decimal(totals[name], 2)
        return {
            'month': month.strftime('%Y-%m'),
            'currency': company.currency.code,
            'evaluation': evaluation,
            'customers': rows,
            'totals': totals,
            }

    @classmethod
    def _report_evaluation(cls, company, month, month_end):
        """Return the name of the evaluation in force at month_end, the end
        of the month reported.

        A month after the current one raises ReportPeriodError, a month
        with no evaluation applied by its end ReportNoFiguresError."""
        if month > today().replace(day=1):
            raise ReportPeriodError(gettext(
                    'crm_module.msg_business_status_future',
                    month=month.strftime('%Y-%m')))
        evaluation = cls._evaluation_in_force(company, month_end)
        if not evaluation:
            raise ReportNoFiguresError(gettext(
                    'crm_module.msg_business_status_no_evaluation',
                    company=company.rec_name,
                    month=month.strftime('%Y-%m'),
                    date=month_end.isoformat()))
        return evaluation

    @classmethod
    def _customer_figures(
            cls, month, customer, monthly, plan, complaints, visits):
        """Return the row of customer (as _customers returns it) for month
        with its figures unformatted, from its sales per month (monthly),
        its plan, its complaint counts and its visits (done, required)"""
        _, code, name, tier_code, tier_name, manager = customer
        row = {
            'party_code': code,
            'party_name': name,
            'tier_code': tier_code,
            'tier_name': tier_name,
            'account_manager': manager,
            'sales_month': monthly.get(month, Decimal(0)),
            'sales_previous_month': monthly.get(
                month_add(month, -1), Decimal(0)),
            'sales_same_month_last_year': monthly.get(
                month_add(month, -12), Decimal(0)),
            'sales_ytd': _sales_between(
                monthly, month.replace(month=1), month),
            }
        target = plan.get('target')
        row['plan_start_date'] = plan.get('start_date')
        row['plan_end_date'] = plan.get('end_date')
        row['plan_target'] = target
        if target is not None:
            row['sales_plan_to_date'] = _sales_between(
                monthly, plan['first_month'], month)
        else:
            row['sales_plan_to_date'] = None
        row['plan_achievement'] = achievement(
            row['sales_plan_to_date'], target)
        row['fluctuation'] = percent_change(
            row['sales_month'], row['sales_previous_month'])
        row['fluctuation_year'] = percent_change(
            row['sales_month'], row['sales_same_month_last_year'])
        row['new_business'] = plan.get('new_business')
        row.update(complaints)
        for name_ in COUNT_FIELDS:
            row.setdefault(name_, 0)
        row['visits_done'], row['visits_required'] = visits
        return row

    @classmethod
    def _customer_report(cls, row, monthly, trend_months):
        """Return row, the figures of a customer, formatted for the report
        with the trend of its sales per month (monthly) over trend_months
        (month, label)"""
        for name in MONEY_FIELDS:
            row[name] = report_decimal(row[name], 2)
        for name in ['plan_achievement', 'fluctuation', 'fluctuation_year']:
            if row[name] is not None:
                row[name] = str(row[name])
        row['trend'] = [{
                'month': label,
                'sales': report_decimal(monthly.get(m, Decimal(0)), 2),
                } for m, label in trend_months]
        return row

    @classmethod
    def _evaluation_in_force(cls, company, date):
        """Return the name of the evaluation of company last applied on or
        before date.

        An evaluation takes effect the day its tiers are given to the
        parties: the date of the tier history it writes (the day the
        apply button ran, or the day replayed by crm_today); without any
        tier change, the day of its applied timestamp."""
        pool = Pool()
        Evaluation = pool.get('crm.evaluation')
        History = pool.get('crm.tier.history')
        evaluation = Evaluation.__table__()
        history = History.__table__()
        cursor = Transaction().connection.cursor()
        effective = history.select(
            history.evaluation, Min(history.date).as_('date'),
            where=history.evaluation != Null,
            group_by=[history.evaluation])
        cursor.execute(*evaluation.join(effective, 'LEFT',
                condition=effective.evaluation == evaluation.id).select(
                evaluation.id, evaluation.name, effective.date,
                evaluation.applied_at,
                where=(evaluation.company == company.id)
                & (evaluation.state == 'applied')))
        applied = []
        for id_, name, date_, applied_at in cursor:
            effective_date = _date(date_) or _date(applied_at)
            if effective_date and effective_date <= date:
                applied.append((effective_date, id_, name))
        if applied:
            return max(applied)[2]

    @classmethod
    def _customers_query(cls, company, date):
        """Return the query of the active parties with their tier at the
        end of date, limited to the tiers in the report: party, tier"""
        pool = Pool()
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        History = pool.get('crm.tier.history')
        party = Party.__table__()
        tier = Tier.__table__()
        history = History.__table__()

        def ranked(where, order):
            return history.select(
                history.party, history.from_tier, history.to_tier,
                RowNumber(window=Window([history.party],
                        order_by=order)).as_('rank'),
                where=(history.company == company.id) & where)
        before = ranked(history.date <= date,
            [history.date.desc, history.id.desc])
        after = ranked(history.date > date,
            [history.date.asc, history.id.asc])
        last = before.select(before.party, before.to_tier,
            where=before.rank == 1)
        first = after.select(after.party, after.from_tier,
            where=after.rank == 1)
        tier_at = Case(
            (last.party != Null, last.to_tier),
            (first.party != Null, first.from_tier),
            else_=party.crm_tier)
        query = (party
            .join(last, 'LEFT', condition=last.party == party.id)
            .join(first, 'LEFT', condition=first.party == party.id)
            .select(party.id.as_('party'), tier_at.as_('tier'),
                where=party.active == Literal(True)))
        return (query
            .join(tier, condition=tier.id == query.tier)
            .select(query.party.as_('party'), query.tier.as_('tier'),
                where=(tier.company == company.id)
                & (tier.status_report == Literal(True))))

    @classmethod
    def _customers(cls, company, date):
        """Return the customers in the report, by tier sequence and code:
        party id, code, name, tier code, tier name, account manager"""
        pool = Pool()
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        cursor = Transaction().connection.cursor()
        query = cls._customers_query(company, date)
        cursor.execute(*query.select(query.party, query.tier))
        tier_of = dict(cursor)
        tiers = {t.id: t for t in Tier.browse(list(set(tier_of.values())))}
        party = Party.__table__()
        cursor.execute(*party.select(party.id, party.code, party.name,
                party.crm_account_manager,
                where=party.id.in_(query.select(query.party))))
        parties = list(cursor)
        Employee = pool.get('company.employee')
        managers = {e.id: e.rec_name for e in Employee.browse(
                list({p[3] for p in parties if p[3]}))}
        rows = []
        for party_id, code, name, manager in parties:
            tier = tiers[tier_of[party_id]]
            rows.append((party_id, code, name, tier.code, tier.name,
                    managers.get(manager)))
        sequence = {t.id: (t.sequence is None, t.sequence or 0, t.id)
            for t in tiers.values()}
        rows.sort(key=lambda r: (sequence[tier_of[r[0]]], r[1] or '', r[0]))
        return rows

    @classmethod
    def _plans(cls, company, month, month_end):
        """Return per party its plan in the report: of the approved or
        closed account plan overlapping the month that starts last, the
        version in force at the end of the month (crm.account.plan's
        in_force_query), with its period (start_date, end_date as ISO
        dates, first_month), its revenue target (None without revenue
        objective) and the text of its new products objectives"""
        pool = Pool()
        Plan = pool.get('crm.account.plan')
        Objective = pool.get('crm.account.plan.objective')
        plan = Plan.__table__()
        objective = Objective.__table__()
        in_force = Plan.in_force_query(month, month_end, company=company)
        cursor = Transaction().connection.cursor()
        cursor.execute(*in_force
            .join(plan, condition=plan.id == in_force.plan)
            .join(objective, 'LEFT',
                condition=(objective.plan == plan.id)
                & objective.kind.in_(['revenue', 'new_products']))
            .select(
                plan.party, plan.start_date, plan.id, plan.end_date,
                objective.kind, objective.description, objective.target,
                objective.actual_value,
                order_by=[plan.party, objective.id]))
        kind_name = Objective.fields_get(['kind'])['kind']['selection']
        new_products = dict(kind_name)['new_products']
        result = {}
        for (party, start, plan_id, end, kind, description, target,
                actual) in cursor:
            start = _date(start)
            values = result.get(party)
            if values is None:
                values = result[party] = {
                    'plan': plan_id,
                    'start_date': start.isoformat(),
                    'end_date': _date(end).isoformat(),
                    'first_month': start.replace(day=1),
                    'target': None,
                    'new_business': None,
                    }
            if target is not None:
                target = Decimal(str(target))
            if actual is not None:
                actual = Decimal(str(actual))
            if kind == 'revenue':
                values['target'] = (values['target'] or 0) + (target or 0)
            elif kind == 'new_products':
                text = '%s: %s / %s' % (
                    description or new_products, _number(actual) or '-',
                    _number(target))
                values['new_business'] = '; '.join(
                    filter(None, [values['new_business'], text]))
        return result

    @classmethod
    def _sales(cls, company, first_month, month_end):
        """Return per party and month the revenue in company currency of
        the customers in the report, converted as every figure is
        (crm.sales.summary's company_totals)"""
        Summary = Pool().get('crm.sales.summary')
        customers = cls._customers_query(company, month_end)
        months, missing = Summary.company_totals(
            company, first_month, month_end,
            parties=customers.select(customers.party))
        if missing:
            raise MissingRateError(gettext(
                    'crm_module.msg_business_status_missing_rate',
                    rates=', '.join(sorted(missing))))
        result = {}
        for (party, month), (revenue, *_) in months.items():
            result.setdefault(party, {})[month] = revenue
        return result

    @classmethod
    def _complaints(cls, company, month, month_end):
        """Return per party the counts of the complaints received in the
        month, cancelled ones excluded"""
        pool = Pool()
        Complaint = pool.get('crm.complaint')
        complaint = Complaint.__table__()
        cursor = Transaction().connection.cursor()
        one, zero = Literal(1), Literal(0)

        def count_if(condition):
            return Sum(Case((condition, one), else_=zero))
        start = dt.datetime.combine(month, dt.time())
        end = dt.datetime.combine(month_end + dt.timedelta(days=1), dt.time())
        columns = [count_if(complaint.category == category)
            for category in PROBLEM_CATEGORIES]
        columns.append(count_if(complaint.severity.in_(SERIOUS_SEVERITIES)))
        cursor.execute(*complaint.select(complaint.party, *columns,
                where=(complaint.company == company.id)
                & (complaint.state != 'cancelled')
                & (complaint.received_at >= start)
                & (complaint.received_at < end),
                group_by=[complaint.party]))
        names = [*PROBLEM_CATEGORIES.values(), 'serious_complaints']
        return {party: dict(zip(names, map(int, counts), strict=True))
            for party, *counts in cursor}

    @classmethod
    def _visits(cls, company, month, month_end):
        """Return per party the visits done and required in the month, as
        the visit compliance screens count them for that period"""
        Compliance = Pool().get('crm.visit.compliance')
        cursor = Transaction().connection.cursor()
        query = Compliance.table_query()
        customers = cls._customers_query(company, month_end)
        cursor.execute(*query.select(query.company, query.party, query.level,
                query.interval, query.interval_unit,
                where=(query.company == company.id)
                & query.party.in_(customers.select(customers.party))))
        rows = cursor.fetchall()
        result = {}
        for row, (needed, done) in zip(
                rows, Compliance.period_figures(rows, month, month_end),
                strict=True):
            party_done, party_required = result.get(row[1], (0, 0))
            result[row[1]] = (party_done + done, party_required + needed)
        return result


def trend_chart(trend, title=''):
    """Return an SVG bar chart of the monthly sales of trend (a list of
    dicts with month and sales, oldest first) with the month labels"""
    width, height = 640, 200
    left, right, top, bottom = 70, 10, 28, 30
    values = [Decimal(t['sales']) for t in trend]
    high = max([*values, Decimal(0)])
    low = min([*values, Decimal(0)])
    span = (high - low) or Decimal(1)
    plot_height = height - top - bottom
    plot_width = width - left - right
    step = plot_width / max(len(values), 1)

    def y(value):
        return top + float((high - value) / span) * plot_height

    font = ("font-family=\"WenQuanYi Zen Hei, Noto Sans CJK SC, "
        "Liberation Sans, sans-serif\"")
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" '
        'viewBox="0 0 %s %s">' % (width, height, width, height),
        '<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>' % (
            width, height),
        '<text x="%s" y="18" font-size="14" %s>%s</text>' % (
            left, font, escape(title)),
        ]
    for value in sorted({high, low, Decimal(0)}):
        parts.append(
            '<line x1="%s" y1="%.1f" x2="%s" y2="%.1f" stroke="#bbbbbb" '
            'stroke-width="1"/>' % (left, y(value), width - right, y(value)))
        parts.append(
            '<text x="%s" y="%.1f" font-size="10" text-anchor="end" %s>'
            '%s</text>' % (left - 4, y(value) + 3, font,
                f'{value:,.0f}'))
    points = []
    for index, (item, value) in enumerate(zip(trend, values, strict=True)):
        x = left + index * step
        top_y, bottom_y = sorted([y(value), y(Decimal(0))])
        parts.append(
            '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
            'fill="%s"/>' % (x + step * 0.15, top_y, step * 0.7,
                max(bottom_y - top_y, 0.5),
                '#4a7ebb' if value >= 0 else '#c0504d'))
        points.append('%.1f,%.1f' % (x + step / 2, y(value)))
        parts.append(
            '<text x="%.1f" y="%s" font-size="10" text-anchor="middle" %s>'
            '%s</text>' % (x + step / 2, height - bottom + 14, font,
                escape(item['month'])))
    parts.append(
        '<polyline points="%s" fill="none" stroke="#e46c0a" '
        'stroke-width="2"/>' % ' '.join(points))
    parts.append('</svg>')
    return '\n'.join(parts).encode('utf-8')


def previous_month(date):
    "Return the first day of the month before date's"
    return month_add(date, -1)


class BusinessStatusReport(Report):
    "The monthly business status report printed from the menu"
    __name__ = 'crm.business_status.report'

    @classmethod
    def get_context(cls, records, header, data):
        pool = Pool()
        BusinessStatus = pool.get('crm.business_status')
        Company = pool.get('company.company')
        User = pool.get('res.user')
        Lang = pool.get('ir.lang')
        context = super().get_context(records, header, data)
        transaction = Transaction()

        company_id = transaction.context.get('company')
        wanted = data.get('company')
        if wanted and (transaction.user == 0 or wanted in {
                    c.id for c in User(transaction.user).companies}):
            company_id = wanted
        month = data.get('month') or previous_month(today())
        with transaction.set_context(company=company_id):
            status = BusinessStatus.report_data(month)
        company = Company(company_id)
        lang = Lang.get()

        def number(value):
            "Amounts and percentages alike: two decimals, blank for None"
            if value is None:
                return ''
            return lang.format_number(Decimal(value), digits=2)

        def chart(customer):
            return trend_chart(customer['trend'], '%s %s' % (
                    customer['party_code'] or '', customer['party_name']))

        context.update({
                'status': status,
                'company': company,
                'amount': number,
                'percent': number,
                'chart': chart,
                })
        return context


class BusinessStatusPrintStart(ModelView):
    __name__ = 'crm.business_status.print.start'
    __string__ = "Print Business Status"

    month = fields.Date(
        "Month", required=True,
        help="Any day of the month to report: the report covers the whole "
        "month.")
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)

    @classmethod
    def default_month(cls):
        return previous_month(today())

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class BusinessStatusPrint(Wizard):
    "Ask the month of the business status report and print it"
    __name__ = 'crm.business_status.print'

    start = StateView('crm.business_status.print.start',
        'crm_module.business_status_print_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Print", 'print_', 'tryton-print', default=True),
            ])
    print_ = StateReport('crm.business_status.report')

    def do_print_(self, action):
        return action, {
            'month': self.start.month.replace(day=1).isoformat(),
            'company': self.start.company.id,
            }
