import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

from sql import Literal, Null
from sql.aggregate import Max, Sum
from sql.conditionals import Case, Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .common import (
    exact_sum, from_exact_sum, in_workflow, invalidate_cache, month_add,
    requires_state, today as crm_today)
from .configuration import MEASURES, PERIOD_TYPES
from .exceptions import (
    EvaluationOverrideError, EvaluationPeriodError, MissingRateError,
    WorkflowStateError)

STATES = [
    ('draft', "Draft"),
    ('computed', "Computed"),
    ('approved', "Approved"),
    ('applied', "Applied"),
    ('cancelled', "Cancelled"),
    ]
ABC_CLASSES = [
    (None, ""),
    ('A', "A"),
    ('B', "B"),
    ('C', "C"),
    ]
AMOUNT = (16, 2)
PERCENT = (9, 4)
HUNDRED = Decimal(100)


def period_for(period_type, today):
    "Return the last complete evaluation period before today"
    if period_type == 'calendar':
        return (dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31))
    end = today.replace(day=1)
    return month_add(end, -12), end - dt.timedelta(days=1)


def _percent(numerator, denominator):
    if not denominator:
        return None
    return (numerator * HUNDRED / denominator).quantize(
        Decimal('0.0001'), rounding=ROUND_HALF_EVEN)


class Evaluation(Workflow, ModelSQL, ModelView):
    __name__ = 'crm.evaluation'
    __string__ = "Customer Evaluation"

    _draft = {'readonly': Eval('state') != 'draft'}

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_draft)
    name = fields.Char("Name", required=True, states=_draft)
    period_type = fields.Selection(
        PERIOD_TYPES, "Period Type", required=True, states=_draft)
    measure = fields.Selection(
        MEASURES, "Contribution Measure", required=True, states=_draft,
        help="What tier thresholds, shares and ranks are computed on.")
    start_date = fields.Date(
        "Start Date", required=True, states=_draft,
        domain=[('start_date', '<=', Eval('end_date', None))])
    end_date = fields.Date(
        "End Date", required=True, states=_draft,
        domain=[('end_date', '>=', Eval('start_date', None))])
    state = fields.Selection(STATES, "State", readonly=True, sort=False)
    state_string = state.translated('state')
    lines = fields.One2Many(
        'crm.evaluation.line', 'evaluation', "Lines", readonly=True)
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    company_revenue = fields.Numeric(
        "Company Revenue", digits=AMOUNT, readonly=True,
        help="Revenue of the customers with sales in the period.")
    company_margin = fields.Numeric(
        "Company Gross Margin", digits=AMOUNT, readonly=True)
    unmatched_revenue = fields.Numeric(
        "Unmatched Revenue", digits=AMOUNT, readonly=True,
        help="Revenue sent for customer references that match no party; "
        "it is not part of any figure until the party exists.")
    resident_threshold = fields.Numeric(
        "Resident Representative Threshold", digits=AMOUNT, readonly=True)
    big_customer_threshold = fields.Numeric(
        "Big Customer Threshold", digits=AMOUNT, readonly=True)
    abc_a_share = fields.Numeric(
        "Class A Cumulative Share %", digits=(5, 2), readonly=True)
    abc_b_share = fields.Numeric(
        "Class B Cumulative Share %", digits=(5, 2), readonly=True)
    customer_count = fields.Function(
        fields.Integer("Customers"), 'get_counts')
    change_count = fields.Function(
        fields.Integer("Tier Changes"), 'get_counts')
    computed_by = fields.Many2One('res.user', "Computed By", readonly=True)
    computed_at = fields.Timestamp("Computed At", readonly=True)
    approved_by = fields.Many2One('res.user', "Approved By", readonly=True)
    approved_at = fields.Timestamp("Approved At", readonly=True)
    applied_by = fields.Many2One('res.user', "Applied By", readonly=True)
    applied_at = fields.Timestamp("Applied At", readonly=True)
    note = fields.Text("Note")

    # Fields only a workflow button may write.
    _workflow_fields = {
        'state', 'company_revenue', 'company_margin', 'unmatched_revenue',
        'resident_threshold', 'big_customer_threshold', 'abc_a_share',
        'abc_b_share', 'computed_by', 'computed_at', 'approved_by',
        'approved_at', 'applied_by', 'applied_at'}

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(
                t, (t.state, Index.Equality(cardinality='low')),
                where=t.state.in_(['draft', 'computed', 'approved'])))
        cls._order = [('end_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'computed'),
            ('computed', 'draft'),
            ('computed', 'approved'),
            ('approved', 'draft'),
            ('approved', 'applied'),
            ('draft', 'cancelled'),
            ('computed', 'cancelled'),
            ('approved', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'compute': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-launch',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['computed', 'approved', 'cancelled']),
                    'icon': If(Eval('state') == 'cancelled',
                        'tryton-undo', 'tryton-back'),
                    'depends': ['state'],
                    },
                'approve': {
                    'invisible': Eval('state') != 'computed',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'apply': {
                    'invisible': Eval('state') != 'approved',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'computed', 'approved']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @classmethod
    def _config_value(cls, name):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        company = Transaction().context.get('company')
        return Configuration(1).get_multivalue(name, company=company)

    @classmethod
    def default_period_type(cls):
        return cls._config_value('period_type')

    @classmethod
    def default_measure(cls):
        return cls._config_value('measure')

    @classmethod
    def default_start_date(cls):
        return cls._default_period()[0]

    @classmethod
    def default_end_date(cls):
        return cls._default_period()[1]

    @classmethod
    def default_name(cls):
        start, end = cls._default_period()
        return cls._period_name(start, end)

    @classmethod
    def _default_period(cls):
        Date = Pool().get('ir.date')
        return period_for(cls.default_period_type(), Date.today())

    @staticmethod
    def _period_name(start, end):
        if start.month == 1 and end.month == 12 and start.year == end.year:
            return str(start.year)
        return '%s - %s' % (start.strftime('%Y-%m'), end.strftime('%Y-%m'))

    @fields.depends('period_type')
    def on_change_period_type(self):
        Date = Pool().get('ir.date')
        if self.period_type:
            self.start_date, self.end_date = period_for(
                self.period_type, Date.today())
            self.name = self._period_name(self.start_date, self.end_date)

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @classmethod
    def get_counts(cls, evaluations, names):
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: {e.id: 0 for e in evaluations} for n in names}
        final = Coalesce(line.override_tier, line.proposed_tier)
        changed = Case(
            ((line.current_tier == Null) | (line.current_tier != final), 1),
            else_=0)
        for sub_ids in grouped_slice(
                [e.id for e in evaluations], backend.MAX_QUERY_PARAMS):
            cursor.execute(*line.select(
                    line.evaluation, Sum(Literal(1)), Sum(changed),
                    where=line.evaluation.in_(list(sub_ids)),
                    group_by=[line.evaluation]))
            for evaluation_id, count, changes in cursor:
                if 'customer_count' in result:
                    result['customer_count'][evaluation_id] = count
                if 'change_count' in result:
                    result['change_count'][evaluation_id] = changes
        return result

    @property
    def months(self):
        return ((self.end_date.year - self.start_date.year) * 12
            + self.end_date.month - self.start_date.month + 1)

    @property
    def previous_start_date(self):
        return month_add(self.start_date, -self.months)

    @classmethod
    def validate_fields(cls, evaluations, field_names):
        super().validate_fields(evaluations, field_names)
        if field_names & {'start_date', 'end_date'}:
            for evaluation in evaluations:
                evaluation.check_period()

    def check_period(self):
        # Sales arrive as monthly totals: a period must be whole months.
        next_day = self.end_date + dt.timedelta(days=1)
        if (self.start_date.day != 1 or next_day.day != 1
                or self.start_date > self.end_date):
            raise EvaluationPeriodError(gettext(
                    'crm_module.msg_evaluation_period_months',
                    evaluation=self.rec_name))
        if self.months > 24:
            raise EvaluationPeriodError(gettext(
                    'crm_module.msg_evaluation_period_length',
                    evaluation=self.rec_name, months=self.months))

    @classmethod
    def write(cls, *args):
        if not in_workflow():
            actions = iter(args)
            for evaluations, values in zip(actions, actions, strict=False):
                fields_ = set(values) & cls._workflow_fields
                if fields_:
                    raise WorkflowStateError(gettext(
                            'crm_module.msg_evaluation_workflow_field',
                            fields=', '.join(sorted(fields_))))
                for evaluation in evaluations:
                    if evaluation.state != 'draft' and set(values) - {'note'}:
                        raise WorkflowStateError(gettext(
                                'crm_module.msg_evaluation_modify',
                                evaluation=evaluation.rec_name,
                                state=evaluation.state_string))
        super().write(*args)

    @classmethod
    def create(cls, vlist):
        if not in_workflow():
            for values in vlist:
                fields_ = (set(values) & cls._workflow_fields) - {'state'}
                if fields_ or values.get('state', 'draft') != 'draft':
                    raise WorkflowStateError(gettext(
                            'crm_module.msg_evaluation_workflow_field',
                            fields=', '.join(sorted(fields_ or {'state'}))))
        return super().create(vlist)

    @classmethod
    def copy(cls, evaluations, default=None):
        default = default.copy() if default is not None else {}
        for name in cls._workflow_fields - {'state'}:
            default.setdefault(name, None)
        default.setdefault('lines', None)
        return super().copy(evaluations, default=default)

    @classmethod
    def delete(cls, evaluations):
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        for evaluation in evaluations:
            if evaluation.state not in {'draft', 'cancelled'}:
                raise WorkflowStateError(gettext(
                        'crm_module.msg_evaluation_delete',
                        evaluation=evaluation.rec_name,
                        state=evaluation.state_string))
        Line.delete_raw([e.id for e in evaluations])
        super().delete(evaluations)

    @classmethod
    @ModelView.button
    @requires_state('draft')
    @Workflow.transition('computed')
    def compute(cls, evaluations):
        pool = Pool()
        User = pool.get('res.user')
        for evaluation in evaluations:
            with Transaction().set_context(company=evaluation.company.id):
                values = evaluation._compute()
            values.update({
                    'computed_by': User(Transaction().user).id,
                    'computed_at': dt.datetime.now(),
                    })
            cls.write([evaluation], values)

    @classmethod
    @ModelView.button
    @requires_state('computed', 'approved', 'cancelled')
    @Workflow.transition('draft')
    def draft(cls, evaluations):
        cls.write(evaluations, {
                'approved_by': None,
                'approved_at': None,
                })

    @classmethod
    @ModelView.button
    @requires_state('computed')
    @Workflow.transition('approved')
    def approve(cls, evaluations):
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        Line.check_overrides(Line.search([
                    ('evaluation', 'in', [e.id for e in evaluations]),
                    ('override_tier', '!=', None),
                    ]))
        cls.write(evaluations, {
                'approved_by': Transaction().user,
                'approved_at': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @requires_state('approved')
    @Workflow.transition('applied')
    def apply(cls, evaluations):
        for evaluation in evaluations:
            evaluation._apply()
        cls.write(evaluations, {
                'applied_by': Transaction().user,
                'applied_at': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @requires_state('draft', 'computed', 'approved')
    @Workflow.transition('cancelled')
    def cancel(cls, evaluations):
        pass

    def _get_tiers(self):
        "Return the company's tiers, highest first"
        Tier = Pool().get('crm.tier')
        return Tier.search([
                ('company', '=', self.company.id),
                ], order=[('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')])

    def _get_party_totals(self):
        """Return per party (None for unmatched summaries) the revenue and
        cost of the period and of the previous one in company currency,
        the number of sales lines and the last sale date.

        Totals are summed in SQL per party; only summaries in another
        currency are summed per month to be converted at that month's rate.
        """
        pool = Pool()
        Summary = pool.get('crm.sales.summary')
        Currency = pool.get('currency.currency')
        cursor = Transaction().connection.cursor()
        summary = Summary.__table__()

        currency = self.company.currency
        in_period = summary.month >= self.start_date
        zero = Literal(0)

        def now(column):
            return Case((in_period, column), else_=zero)

        def before(column):
            return Case((in_period, zero), else_=column)

        columns = [
            exact_sum(now(summary.revenue)),
            exact_sum(now(summary.cost)),
            exact_sum(before(summary.revenue)),
            exact_sum(before(summary.cost)),
            Sum(now(summary.line_count)),
            Max(Case((in_period, summary.last_sale_date), else_=Null)),
            ]
        where = ((summary.company == self.company.id)
            & (summary.month >= self.previous_start_date)
            & (summary.month <= self.end_date))

        totals = defaultdict(lambda: [Decimal(0)] * 4 + [0, None])

        def add(party, amounts, line_count, last_sale):
            party_totals = totals[party]
            for i, amount in enumerate(amounts):
                party_totals[i] += amount
            party_totals[4] += line_count or 0
            if last_sale and (
                    party_totals[5] is None or last_sale > party_totals[5]):
                party_totals[5] = last_sale

        cursor.execute(*summary.select(summary.party, *columns,
                where=where & (summary.currency == currency.id),
                group_by=[summary.party]))
        for party, *amounts, line_count, last_sale in cursor:
            add(party, [from_exact_sum(a) for a in amounts],
                line_count, last_sale)

        cursor.execute(*summary.select(
                summary.party, summary.currency, summary.month, *columns,
                where=where & (summary.currency != currency.id),
                group_by=[summary.party, summary.currency, summary.month]))
        foreign = list(cursor)
        rates, missing = {}, []
        for currency_id, month in sorted({(r[1], r[2]) for r in foreign}):
            month_end = month_add(month, 1) - dt.timedelta(days=1)
            with Transaction().set_context(date=month_end):
                from_, to = Currency.browse([currency_id, currency.id])
                if not from_.rate or not to.rate:
                    missing.append('%s %s' % (
                            (from_ if not from_.rate else to).code,
                            month_end.isoformat()))
                else:
                    rates[currency_id, month] = to.rate / from_.rate
        if missing:
            raise MissingRateError(gettext(
                    'crm_module.msg_evaluation_missing_rate',
                    evaluation=self.rec_name,
                    rates=', '.join(missing)))
        for party, currency_id, month, *amounts, line_count, last_sale in (
                foreign):
            rate = rates[currency_id, month]
            add(party, [currency.round(from_exact_sum(a) * rate)
                    for a in amounts], line_count, last_sale)
        return totals

    def _get_parties(self, totals):
        """Return the parties to evaluate with their current tier and
        designation: those with sales and those that already have a tier
        or a designation"""
        pool = Pool()
        Party = pool.get('party.party')
        party = Party.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*party.select(
                party.id, party.crm_tier, party.crm_strategic,
                party.crm_high_standing))
        return {id_: (tier, bool(strategic), bool(high_standing))
            for id_, tier, strategic, high_standing in cursor
            if id_ in totals or tier or strategic}

    def _compute(self):
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        Configuration = pool.get('crm.configuration')
        config = Configuration(1)
        company_id = self.company.id

        def setting(name):
            return config.get_multivalue(name, company=company_id)

        abc_a, abc_b = setting('abc_a_share'), setting('abc_b_share')
        resident_threshold = setting('resident_threshold')
        big_threshold = setting('big_customer_threshold')

        tiers = self._get_tiers()
        designated = next((t for t in tiers if t.designated_only), None)
        no_sales = next((t for t in tiers if t.no_sales), None)
        computed = [t for t in tiers if t.computed]
        if not no_sales:
            raise EvaluationPeriodError(gettext(
                    'crm_module.msg_evaluation_no_sales_tier',
                    evaluation=self.rec_name))

        totals = self._get_party_totals()
        unmatched = totals.pop(None, [Decimal(0)])[0]
        parties = self._get_parties(totals)

        by_margin = self.measure == 'margin'

        def amount_of(revenue, cost):
            return revenue - cost if by_margin else revenue

        # Read the thresholds once: the loop below runs for every party.
        ladder = [(t.id, t.min_amount, t.min_share) for t in computed]

        def tier_for(amount, share):
            for tier_id, min_amount, min_share in ladder:
                if min_amount is None and min_share is None:
                    return tier_id
                if ((min_amount is not None and amount >= min_amount)
                        or (min_share is not None and share > min_share)):
                    return tier_id
            return no_sales.id

        figures = {}
        for party_id in parties:
            revenue, cost, prev_revenue, prev_cost, line_count, last_sale = (
                totals.get(party_id, [Decimal(0)] * 4 + [0, None]))
            figures[party_id] = {
                'revenue': revenue,
                'cost': cost,
                'amount': amount_of(revenue, cost),
                'previous_amount': amount_of(prev_revenue, prev_cost),
                'previous_revenue': prev_revenue,
                'order_count': line_count,
                'last_sale_date': last_sale,
                }
        company_amount = sum(
            (f['amount'] for f in figures.values() if f['amount'] > 0),
            Decimal(0))
        company_revenue = sum(
            (f['revenue'] for f in figures.values() if f['revenue'] > 0),
            Decimal(0))
        company_margin = sum(
            (f['revenue'] - f['cost'] for f in figures.values()
                if f['revenue'] > 0), Decimal(0))

        ranked = sorted(
            (p for p, f in figures.items() if f['amount'] > 0),
            key=lambda p: (-figures[p]['amount'], p))
        cumulative, rank, previous_amount = Decimal(0), 0, None
        for position, party_id in enumerate(ranked, 1):
            f = figures[party_id]
            if f['amount'] != previous_amount:
                rank, previous_amount = position, f['amount']
            before = cumulative * HUNDRED / company_amount
            cumulative += f['amount']
            f['rank'] = rank
            f['cumulative_share'] = _percent(cumulative, company_amount)
            f['abc_class'] = (
                'A' if before < abc_a else 'B' if before < abc_b else 'C')

        lines = []
        for party_id, (current_tier, strategic, high_standing) in (
                parties.items()):
            f = figures[party_id]
            share = (f['amount'] * HUNDRED / company_amount
                if company_amount else Decimal(0))
            if strategic and designated:
                proposed = designated.id
            elif f['revenue'] <= 0:
                proposed = no_sales.id
            else:
                proposed = tier_for(f['amount'], share)
            average = (f['amount'] + f['previous_amount']) / 2
            margin = f['revenue'] - f['cost']
            lines.append({
                    'party': party_id,
                    'revenue': f['revenue'],
                    'cost': f['cost'],
                    'gross_margin': margin,
                    'margin_rate': _percent(margin, f['revenue']),
                    'amount': f['amount'],
                    'share': _percent(f['amount'], company_amount)
                    if company_amount and f['amount'] > 0
                    else Decimal('0.0000'),
                    'rank': f.get('rank'),
                    'cumulative_share': f.get('cumulative_share'),
                    'abc_class': f.get('abc_class'),
                    'previous_revenue': f['previous_revenue'],
                    'previous_amount': f['previous_amount'],
                    'growth': _percent(
                        f['amount'] - f['previous_amount'],
                        f['previous_amount'])
                    if f['previous_amount'] > 0 else None,
                    'order_count': f['order_count'],
                    'last_sale_date': f['last_sale_date'],
                    'designated': strategic,
                    'big_customer': high_standing or (
                        big_threshold is not None
                        and average > big_threshold),
                    'current_tier': current_tier,
                    'proposed_tier': proposed,
                    })
        cent = Decimal('0.01')
        for line in lines:
            for name in ['revenue', 'cost', 'gross_margin', 'amount',
                    'previous_revenue', 'previous_amount']:
                line[name] = line[name].quantize(cent)
        Line.delete_raw([self.id])
        Line.insert_raw(self, lines)
        return {
            'company_revenue': company_revenue.quantize(cent),
            'company_margin': company_margin.quantize(cent),
            'unmatched_revenue': unmatched.quantize(cent),
            'resident_threshold': resident_threshold,
            'big_customer_threshold': big_threshold,
            'abc_a_share': abc_a,
            'abc_b_share': abc_b,
            }

    def _apply(self):
        """Give every evaluated party its approved tier, keep a history
        record for each change and link the party to its figures"""
        pool = Pool()
        Party = pool.get('party.party')
        Line = pool.get('crm.evaluation.line')
        History = pool.get('crm.tier.history')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        party = Party.__table__()
        line = Line.__table__()
        history = History.__table__()

        # the tier date is the day the visit policy starts to count from
        today = crm_today()
        now = dt.datetime.now()
        user = transaction.user
        final = Coalesce(line.override_tier, line.proposed_tier)
        default_reason = gettext(
            'crm_module.msg_history_reason_evaluation',
            evaluation=self.rec_name)
        cursor.execute(*history.insert(
                [history.company, history.party, history.date,
                    history.from_tier, history.to_tier, history.evaluation,
                    history.user, history.reason,
                    history.create_uid, history.create_date],
                line.join(party, condition=line.party == party.id).select(
                    Literal(self.company.id), line.party, Literal(today),
                    party.crm_tier, final, Literal(self.id), Literal(user),
                    Coalesce(line.override_reason, default_reason),
                    Literal(user), Literal(now),
                    where=(line.evaluation == self.id)
                    & ((party.crm_tier == Null) | (party.crm_tier != final)))))

        changed = history.select(history.party,
            where=history.evaluation == self.id)
        cursor.execute(*party.update(
                [party.crm_tier, party.crm_tier_since,
                    party.write_uid, party.write_date],
                [line.select(final,
                        where=(line.evaluation == self.id)
                        & (line.party == party.id)),
                    today, user, now],
                where=party.id.in_(changed)))
        cursor.execute(*party.update(
                [party.crm_evaluation_line],
                [line.select(line.id,
                        where=(line.evaluation == self.id)
                        & (line.party == party.id))],
                where=party.id.in_(line.select(line.party,
                        where=line.evaluation == self.id))))
        cursor.execute(*line.select(line.party,
                where=line.evaluation == self.id))
        invalidate_cache(Party, [p for p, in cursor])

    @classmethod
    def prepare_drafts(cls):
        """Create the draft evaluation of the last complete period for each
        company in its configured evaluation month, once"""
        pool = Pool()
        Company = pool.get('company.company')
        Date = pool.get('ir.date')
        drafts = []
        for company in Company.search([]):
            with Transaction().set_context(company=company.id):
                today = Date.today()
                if cls._config_value('evaluation_month') != today.month:
                    continue
                period_type = cls._config_value('period_type')
                start, end = period_for(period_type, today)
                if cls.search([
                            ('company', '=', company.id),
                            ('start_date', '=', start),
                            ('end_date', '=', end),
                            ('state', '!=', 'cancelled'),
                            ], limit=1):
                    continue
                drafts.append({
                        'company': company.id,
                        'name': cls._period_name(start, end),
                        'period_type': period_type,
                        'measure': cls._config_value('measure'),
                        'start_date': start,
                        'end_date': end,
                        })
        return cls.create(drafts)


class EvaluationLine(ModelSQL, ModelView):
    __name__ = 'crm.evaluation.line'
    __string__ = "Customer Evaluation Line"

    evaluation = fields.Many2One(
        'crm.evaluation', "Evaluation", required=True, ondelete='CASCADE',
        readonly=True)
    evaluation_state = fields.Function(
        fields.Selection(STATES, "Evaluation State"),
        'on_change_with_evaluation_state')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    party = fields.Many2One(
        'party.party', "Party", required=True, readonly=True,
        ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    revenue = fields.Numeric("Revenue", digits=AMOUNT, readonly=True)
    cost = fields.Numeric("Cost", digits=AMOUNT, readonly=True)
    gross_margin = fields.Numeric(
        "Gross Margin", digits=AMOUNT, readonly=True)
    margin_rate = fields.Numeric(
        "Margin %", digits=PERCENT, readonly=True)
    amount = fields.Numeric(
        "Contribution", digits=AMOUNT, readonly=True,
        help="The evaluation's measure: revenue or gross margin.")
    share = fields.Numeric(
        "Share %", digits=PERCENT, readonly=True,
        help="Share of the company total of the measure.")
    rank = fields.Integer("Rank", readonly=True)
    cumulative_share = fields.Numeric(
        "Cumulative Share %", digits=PERCENT, readonly=True)
    abc_class = fields.Selection(ABC_CLASSES, "Class", readonly=True)
    previous_revenue = fields.Numeric(
        "Previous Revenue", digits=AMOUNT, readonly=True)
    previous_amount = fields.Numeric(
        "Previous Contribution", digits=AMOUNT, readonly=True)
    growth = fields.Numeric(
        "Growth %", digits=PERCENT, readonly=True,
        help="Change of the contribution against the previous period.")
    order_count = fields.Integer("Sales Lines", readonly=True)
    last_sale_date = fields.Date("Last Sale", readonly=True)
    designated = fields.Boolean(
        "Designated Strategic", readonly=True,
        help="Designated strategic by management when computed.")
    big_customer = fields.Boolean("Big Customer", readonly=True)
    current_tier = fields.Many2One(
        'crm.tier', "Current Tier", readonly=True, ondelete='RESTRICT')
    proposed_tier = fields.Many2One(
        'crm.tier', "Proposed Tier", readonly=True, ondelete='RESTRICT')
    override_tier = fields.Many2One(
        'crm.tier', "Override Tier", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('evaluation_state') != 'computed',
            })
    override_reason = fields.Text(
        "Override Reason",
        states={
            'readonly': Eval('evaluation_state') != 'computed',
            'required': Bool(Eval('override_tier')),
            })
    tier = fields.Function(
        fields.Many2One('crm.tier', "Tier"), 'get_tier',
        searcher='search_tier')
    changed = fields.Function(
        fields.Boolean("Tier Changed"), 'get_changed')
    resident_required = fields.Function(
        fields.Boolean(
            "Resident Representative Required",
            help="A strategic customer whose revenue exceeds the resident "
            "representative threshold."),
        'get_resident_required')

    _override_fields = {'override_tier', 'override_reason'}

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.evaluation, Index.Equality()),
                    (t.party, Index.Equality())),
                Index(t, (t.party, Index.Equality())),
                })
        cls._order = [
            ('evaluation', 'DESC'), ('rank', 'ASC NULLS LAST'),
            ('id', 'ASC')]

    @fields.depends('evaluation', '_parent_evaluation.state')
    def on_change_with_evaluation_state(self, name=None):
        return self.evaluation.state if self.evaluation else None

    @fields.depends('evaluation', '_parent_evaluation.company')
    def on_change_with_company(self, name=None):
        return self.evaluation.company if self.evaluation else None

    @classmethod
    def search_company(cls, name, clause):
        return [('evaluation.' + clause[0], *clause[1:])]

    @fields.depends('evaluation', '_parent_evaluation.company')
    def on_change_with_currency(self, name=None):
        if self.evaluation and self.evaluation.company:
            return self.evaluation.company.currency

    def get_rec_name(self, name):
        return '%s @ %s' % (self.party.rec_name, self.evaluation.rec_name)

    def get_tier(self, name):
        tier = self.override_tier or self.proposed_tier
        return tier.id if tier else None

    @classmethod
    def search_tier(cls, name, clause):
        _, operator, value, *extra = clause
        return ['OR',
            [('override_tier', '!=', None),
                ('override_tier', operator, value, *extra)],
            [('override_tier', '=', None),
                ('proposed_tier', operator, value, *extra)],
            ]

    def get_changed(self, name):
        return self.tier != self.current_tier

    def get_resident_required(self, name):
        threshold = self.evaluation.resident_threshold
        return bool(self.tier and self.tier.designated_only
            and threshold is not None and self.revenue > threshold)

    @classmethod
    def validate_fields(cls, lines, field_names):
        super().validate_fields(lines, field_names)
        if field_names & cls._override_fields:
            cls.check_overrides(lines)

    @classmethod
    def check_overrides(cls, lines):
        for line in lines:
            if line.override_tier and not (line.override_reason or '').strip():
                raise EvaluationOverrideError(gettext(
                        'crm_module.msg_evaluation_override_reason',
                        line=line.rec_name))
            if (line.override_tier
                    and line.override_tier.company != line.evaluation.company):
                raise EvaluationOverrideError(gettext(
                        'crm_module.msg_evaluation_override_company',
                        line=line.rec_name,
                        tier=line.override_tier.rec_name))

    @classmethod
    def create(cls, vlist):
        raise WorkflowStateError(gettext(
                'crm_module.msg_evaluation_line_create'))

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for lines, values in zip(actions, actions, strict=False):
            other = set(values) - cls._override_fields
            if other:
                raise WorkflowStateError(gettext(
                        'crm_module.msg_evaluation_line_figures',
                        fields=', '.join(sorted(other))))
            for line in lines:
                if line.evaluation.state != 'computed':
                    raise WorkflowStateError(gettext(
                            'crm_module.msg_evaluation_line_override_state',
                            line=line.rec_name,
                            state=line.evaluation.state_string))
        super().write(*args)

    @classmethod
    def delete(cls, lines):
        raise WorkflowStateError(gettext(
                'crm_module.msg_evaluation_line_delete'))

    @classmethod
    def delete_raw(cls, evaluation_ids):
        "Delete the lines of evaluations; only their workflow calls this"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for sub_ids in grouped_slice(
                evaluation_ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.delete(
                    where=table.evaluation.in_(list(sub_ids))))

    @classmethod
    def insert_raw(cls, evaluation, lines):
        "Insert computed lines in one statement per thousand"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        if not lines:
            return
        names = list(lines[0])
        columns = [table.evaluation, table.create_uid, table.create_date] + [
            getattr(table, n) for n in names]
        user, now = Transaction().user, dt.datetime.now()
        rows = [[evaluation.id, user, now] + [line[n] for n in names]
            for line in lines]
        # One statement prepared once and run for every row: a multi-row
        # VALUES with tens of thousands of parameters is slow to build.
        query, _ = tuple(table.insert(columns, [rows[0]]))
        cursor.executemany(query, rows)
