import datetime as dt
import operator
from collections import defaultdict
from decimal import Decimal

from sql import Cast, Literal, Null, Union, Values, Window
from sql.aggregate import Count, Max, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Rank
from sql.operators import And, Concat, Or, Pos

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import month_add, today as crm_today
from .common import CustomerRecNameMixin, invalidate_cache, to_the_minute
from .numeric import (
    cents, cents_to_amount, exact_sum, from_exact_sum, numeric, prepare_cents,
    sql_percent)
from .configuration import MEASURES, PERIOD_TYPES
from .exceptions import (
    EvaluationOverrideError, EvaluationPeriodError, MissingRateError,
    WorkflowStateError)
from .tier import STANDING_RANK, STANDINGS, rule_text
from .workflow import (
    WorkflowGuardMixin, guarded_transition, stamp, stamp_fields, state_in,
    unstamp)

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


def period_for(period_type, today):
    "Return the last complete evaluation period before today"
    if period_type == 'calendar':
        return (dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31))
    end = today.replace(day=1)
    return month_add(end, -12), end - dt.timedelta(days=1)


class Evaluation(WorkflowGuardMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'crm.evaluation'
    __string__ = "Customer Evaluation"

    # The fields' readonly states come from _state_fields below.
    company = fields.Many2One('company.company', "Company", required=True)
    name = fields.Char("Name", required=True)
    period_type = fields.Selection(
        PERIOD_TYPES, "Period Type", required=True)
    measure = fields.Selection(
        MEASURES, "Contribution Measure", required=True,
        help="What tier thresholds, shares and ranks are computed on.")
    start_date = fields.Date(
        "Start Date", required=True,
        domain=[('start_date', '<=', Eval('end_date', None))])
    end_date = fields.Date(
        "End Date", required=True,
        domain=[('end_date', '>=', Eval('start_date', None))])
    state = fields.Selection(STATES, "State", readonly=True, sort=False)
    state_string = state.translated('state')
    lines = fields.One2Many(
        'crm.evaluation.line', 'evaluation', "Lines",
        help="The customers of the evaluation; only the override tier and "
        "its reason can be changed, while the evaluation is computed.")
    changed_lines = fields.One2Many(
        'crm.evaluation.line', 'evaluation', "Tier Changes",
        filter=[('changed', '=', True)],
        help="The customers whose tier the evaluation changes.")
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
    target_note = fields.Function(
        fields.Char(
            "Strategic Target",
            help="Says when the evaluation proposes fewer or more customers "
            "for the highest tier than the configured target."),
        'get_target_note')
    change_count = fields.Function(
        fields.Integer("Tier Changes"), 'get_counts')
    computed_by = fields.Many2One('res.user', "Computed By", readonly=True)
    computed_at = to_the_minute(fields.Timestamp("Computed At", readonly=True))
    approved_by = fields.Many2One('res.user', "Approved By", readonly=True)
    approved_at = to_the_minute(fields.Timestamp("Approved At", readonly=True))
    applied_by = fields.Many2One('res.user', "Applied By", readonly=True)
    applied_at = to_the_minute(fields.Timestamp("Applied At", readonly=True))
    note = fields.Text("Note")

    # Fields only a workflow button may write.
    _workflow_field_message = 'crm_module.msg_evaluation_workflow_field'
    _workflow_fields = {
        'state', 'company_revenue', 'company_margin', 'unmatched_revenue',
        'resident_threshold', 'big_customer_threshold', 'abc_a_share',
        'abc_b_share', *stamp_fields('computed', 'approved', 'applied')}
    # The fields a user may change in each state: their readonly states and
    # check_locked come from this table. The lines take only overrides
    # (EvaluationLine), in the states that let them change.
    _state_fields = {
        'draft': {
            'company', 'name', 'period_type', 'measure', 'start_date',
            'end_date', 'note'},
        'computed': {'note', 'lines', 'changed_lines'},
        'approved': {'note'},
        'applied': {'note'},
        'cancelled': {'note'},
        }

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
        # A button is shown in the states of its transition (workflow.py).
        cls._buttons.update({
                'compute': {
                    'icon': 'tryton-launch',
                    },
                'draft': {
                    'icon': If(Eval('state') == 'cancelled',
                        'tryton-undo', 'tryton-back'),
                    },
                'approve': {
                    'icon': 'tryton-ok',
                    },
                'apply': {
                    'icon': 'tryton-forward',
                    },
                'cancel': {
                    'icon': 'tryton-cancel',
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
        changed = Case((Line._changed_condition(line), 1), else_=0)
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
    def highest_tier(self):
        "The company's highest tier for customers with sales"
        Tier = Pool().get('crm.tier')
        tiers, _ = Tier.ladder(self.company)
        return tiers[0] if len(tiers) > 1 else None

    def get_target_note(self, name):
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        Line = pool.get('crm.evaluation.line')
        highest = self.highest_tier
        if self.state in {'draft', 'cancelled'} or highest is None:
            return None
        config = Configuration(1)
        low = config.get_multivalue(
            'strategic_target_min', company=self.company.id)
        high = config.get_multivalue(
            'strategic_target_max', company=self.company.id)
        count = Line.search_count([
                ('evaluation', '=', self.id),
                ('tier', '=', highest.id),
                ])
        if ((low is not None and count < low)
                or (high is not None and count > high)):
            return gettext('crm_module.msg_evaluation_strategic_target',
                count=count, tier=highest.rec_name,
                low=low if low is not None else '-',
                high=high if high is not None else '-')
        return None

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

    def _locked_fields(self, values):
        locked = super()._locked_fields(values)
        locked.update(name for name in ['lines', 'changed_lines']
            if name in values and not self._only_line_overrides(values[name]))
        return locked

    @classmethod
    def _raise_locked(cls, evaluation, fields_):
        raise WorkflowStateError(gettext(
                'crm_module.msg_evaluation_modify',
                evaluation=evaluation.rec_name,
                state=evaluation.state_string))

    def _only_line_overrides(self, actions):
        """Tell whether the actions on the lines of the evaluation only write
        its own lines: the client saves the overrides through their
        evaluation, with an "add" of the lines it already has. The lines
        refuse any other field than the override themselves."""
        own = None
        for action, *arguments in actions:
            if action not in {'add', 'write'}:
                return False
            if own is None:
                own = {line.id for line in self.lines}
            for ids in arguments[::2] if action == 'write' else arguments:
                if not own.issuperset(ids):
                    return False
        return True

    @classmethod
    def copy(cls, evaluations, default=None):
        default = default.copy() if default is not None else {}
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
    @guarded_transition('computed')
    def compute(cls, evaluations):
        for evaluation in evaluations:
            with Transaction().set_context(company=evaluation.company.id):
                values = evaluation._compute()
                evaluation._compute_complaint_figures()
            values.update(stamp('computed'))
            cls.write([evaluation], values)

    @classmethod
    @ModelView.button
    @guarded_transition('draft')
    def draft(cls, evaluations):
        cls.write(evaluations, unstamp('approved'))

    @classmethod
    @ModelView.button
    @guarded_transition('approved')
    def approve(cls, evaluations):
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        Line.check_overrides(Line.search([
                    ('evaluation', 'in', [e.id for e in evaluations]),
                    ('override_tier', '!=', None),
                    ]))
        cls.write(evaluations, stamp('approved'))

    @classmethod
    @ModelView.button
    @guarded_transition('applied')
    def apply(cls, evaluations):
        for evaluation in evaluations:
            evaluation._apply()
        cls.write(evaluations, stamp('applied'))

    @classmethod
    @ModelView.button
    @guarded_transition('cancelled')
    def cancel(cls, evaluations):
        pass

    def _get_foreign_totals(self):
        """Return per party (None for unmatched customers) the totals of the
        summaries in other currencies than the company's, in company
        currency cents: revenue and cost of the period, revenue and cost of
        both periods, sales lines and last sale date of the period.

        They are converted as every figure is (crm.sales.summary's
        company_totals); a missing rate stops the computation rather than
        counting zero.
        """
        Summary = Pool().get('crm.sales.summary')
        months, missing = Summary.company_totals(
            self.company, self.previous_start_date, self.end_date,
            foreign_only=True)
        if missing:
            raise MissingRateError(gettext(
                    'crm_module.msg_evaluation_missing_rate',
                    evaluation=self.rec_name,
                    rates=', '.join(missing)))

        totals = {}
        for (party, month), (revenue, cost, line_count, last_sale) in (
                months.items()):
            revenue, cost = int(revenue * 100), int(cost * 100)
            party_totals = totals.setdefault(party, [0, 0, 0, 0, 0, None])
            if month >= self.start_date:
                party_totals[0] += revenue
                party_totals[1] += cost
                party_totals[4] += line_count
                if last_sale and (party_totals[5] is None
                        or last_sale > party_totals[5]):
                    party_totals[5] = last_sale
            party_totals[2] += revenue
            party_totals[3] += cost
        return totals

    def _get_unmatched_revenue(self, foreign):
        "Return the revenue of the period of customers matching no party"
        pool = Pool()
        Summary = pool.get('crm.sales.summary')
        cursor = Transaction().connection.cursor()
        summary = Summary.__table__()
        cursor.execute(*summary.select(exact_sum(summary.revenue),
                where=(summary.company == self.company.id)
                & (summary.party == Null)
                & (summary.month >= self.start_date)
                & (summary.month <= self.end_date)
                & (summary.currency == self.company.currency.id)))
        revenue, = cursor.fetchone()
        unmatched = from_exact_sum(revenue)
        if None in foreign:
            unmatched += Decimal(foreign[None][0]).scaleb(-2)
        return unmatched

    def _get_totals_query(self, foreign):
        """Return the query of the totals per party in cents: revenue and
        cost of the period, revenue and cost of both periods, sales lines
        and last sale of the period"""
        pool = Pool()
        Summary = pool.get('crm.sales.summary')
        summary = Summary.__table__()

        in_period = summary.month >= self.start_date
        revenue, cost = cents(summary.revenue), cents(summary.cost)
        company = summary.company
        if backend.name == 'sqlite':
            # Read the summaries in the order of the (party, month) index
            # so that grouping needs no sort; the unary plus keeps SQLite
            # from choosing the (company, month) index instead.
            company = Pos(company)
        query = summary.select(
            summary.party.as_('party'),
            Sum(Case((in_period, revenue))).as_('revenue'),
            Sum(Case((in_period, cost))).as_('cost'),
            Sum(revenue).as_('both_revenue'),
            Sum(cost).as_('both_cost'),
            Sum(Case((in_period, summary.line_count))).as_('order_count'),
            Max(Case((in_period, summary.last_sale_date))).as_(
                'last_sale_date'),
            where=(company == self.company.id)
            & (summary.currency == self.company.currency.id)
            & (summary.month >= self.previous_start_date)
            & (summary.month <= self.end_date)
            & (summary.party != Null),
            group_by=[summary.party])
        def date(value):
            # SQLite keeps dates as ISO text; PostgreSQL types a NULL
            # parameter as text in a UNION
            if backend.name == 'sqlite':
                return value.isoformat() if value else None
            return Cast(Literal(value), 'DATE')

        rows = [[party, *values[:5], date(values[5])]
            for party, values in foreign.items() if party is not None]
        if not rows:
            return query
        union = Union(query, Values(rows), all_=True)
        return union.select(
            union.party.as_('party'),
            Sum(union.revenue).as_('revenue'),
            Sum(union.cost).as_('cost'),
            Sum(union.both_revenue).as_('both_revenue'),
            Sum(union.both_cost).as_('both_cost'),
            Sum(union.order_count).as_('order_count'),
            Max(union.last_sale_date).as_('last_sale_date'),
            group_by=[union.party])

    def _compute(self):
        """Insert the evaluation's lines in one set-based statement.

        Figures are summed in whole cents so that they are exact on every
        backend; the ranking, the cumulative share and the proposed tiers
        are window functions and a CASE over the tiers' criteria.
        """
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        Configuration = pool.get('crm.configuration')
        Tier = pool.get('crm.tier')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        config = Configuration(1)
        company_id = self.company.id

        def setting(name):
            return config.get_multivalue(name, company=company_id)

        tiers, prospects = Tier.ladder(self.company)
        if not tiers:
            raise EvaluationPeriodError(gettext(
                    'crm_module.msg_evaluation_no_sales_tier',
                    evaluation=self.rec_name))

        prepare_cents()
        foreign = self._get_foreign_totals()
        ranked = self._ranked_figures(foreign, tiers, prospects)
        rules = _TierRules(ranked, tiers, prospects)
        values = self._line_values(
            ranked, rules, setting('abc_a_share'), setting('abc_b_share'),
            setting('big_customer_threshold'))
        line = Line.__table__()
        Line.delete_raw([self.id])
        cursor.execute(*line.insert(
                [getattr(line, n) for n in values],
                ranked.select(*values.values())))

        cursor.execute(*line.select(
                exact_sum(line.revenue), exact_sum(line.gross_margin),
                where=(line.evaluation == self.id)
                & (cents(line.revenue) > Literal(0))))
        company_revenue, company_margin = cursor.fetchone()
        return {
            'company_revenue': from_exact_sum(company_revenue),
            'company_margin': from_exact_sum(company_margin),
            'unmatched_revenue': self._get_unmatched_revenue(foreign),
            'resident_threshold': setting('resident_threshold'),
            'big_customer_threshold': setting('big_customer_threshold'),
            'abc_a_share': setting('abc_a_share'),
            'abc_b_share': setting('abc_b_share'),
            }

    def _evaluated_figures(self, foreign, tiers, prospects):
        """Return the query of the parties evaluated, with their figures in
        cents, and the names of its qualification flags: the parties with
        sales in either period, a tier, a qualification of the company or
        marked as prospects"""
        pool = Pool()
        Party = pool.get('party.party')
        party = Party.__table__()
        totals = self._get_totals_query(foreign)
        qualified, flags = self._qualifications_query(tiers)
        zero = Literal(0)
        revenue = Coalesce(totals.revenue, zero)
        cost = Coalesce(totals.cost, zero)
        previous_revenue = Coalesce(totals.both_revenue, zero) - revenue
        previous_cost = Coalesce(totals.both_cost, zero) - cost
        if self.measure == 'margin':
            amount, previous_amount = (
                revenue - cost, previous_revenue - previous_cost)
        else:
            amount, previous_amount = revenue, previous_revenue
        # a former customer bought from the company in the period or the
        # previous one, or holds a tier for customers with sales
        bought = (totals.party != Null) | (
            (party.crm_tier != Null)
            & (party.crm_tier != (prospects.id if prospects else -1)))
        prospect = Coalesce(party.crm_prospect, Literal(False))
        query = (party
            .join(totals, 'LEFT', condition=totals.party == party.id)
            .join(qualified, 'LEFT', condition=qualified.party == party.id)
            .select(
                party.id.as_('party'),
                party.crm_tier.as_('current_tier'),
                (Coalesce(qualified.designated, zero) > zero).as_(
                    'designated'),
                Coalesce(party.crm_high_standing, Literal(False)).as_(
                    'high_standing'),
                Coalesce(party.crm_industry_standing, 'other').as_(
                    'standing'),
                prospect.as_('prospect'),
                bought.as_('bought'),
                revenue.as_('revenue'),
                cost.as_('cost'),
                amount.as_('amount'),
                previous_revenue.as_('previous_revenue'),
                previous_amount.as_('previous_amount'),
                Coalesce(totals.order_count, zero).as_('order_count'),
                totals.last_sale_date.as_('last_sale_date'),
                *(Coalesce(getattr(qualified, f), zero).as_(f)
                    for f in flags),
                where=(totals.party != Null) | (party.crm_tier != Null)
                | (prospect == Literal(True)) | (qualified.party != Null)))
        return query, flags

    def _qualifications_query(self, tiers):
        """Return the query giving per party with a qualification of the
        company the number of its designations as strategic and a flag
        q_<id> for each qualification the criteria of tiers ask (one grouped
        join instead of a subquery per party), and the flags' names"""
        pool = Pool()
        PartyQualification = pool.get('crm.party.qualification')
        Qualification = pool.get('crm.qualification')
        given = PartyQualification.__table__()
        qualification = Qualification.__table__()
        asked = sorted({c.qualification.id for t in tiers for c in t.criteria
                if c.kind == 'qualification'})
        one, zero = Literal(1), Literal(0)
        query = given.join(qualification,
            condition=given.qualification == qualification.id).select(
            given.party.as_('party'),
            Sum(Case((qualification.code == 'designated_strategic', one),
                    else_=zero)).as_('designated'),
            *(Max(Case((given.qualification == i, one), else_=zero)).as_(
                    'q_%d' % i) for i in asked),
            where=qualification.company == self.company.id,
            group_by=[given.party])
        return query, ['q_%d' % i for i in asked]

    def _ranked_figures(self, foreign, tiers, prospects):
        """Return the evaluated figures with the rank and cumulative
        contribution among the positive contributions and the company
        totals of the measure, of revenue and of gross margin"""
        figures, flags = self._evaluated_figures(foreign, tiers, prospects)
        zero = Literal(0)
        positive = figures.amount > zero
        ranking = Window([positive], order_by=[figures.amount.desc])
        running = Window([positive],
            order_by=[figures.amount.desc, figures.party.asc],
            frame='ROWS', start=None, end=0)
        everyone = Window([])
        selling = figures.revenue > zero
        return figures.select(
            *(getattr(figures, c) for c in [
                    'party', 'current_tier', 'designated', 'high_standing',
                    'standing', 'prospect', 'bought', 'revenue', 'cost',
                    'amount', 'previous_revenue', 'previous_amount',
                    'order_count', 'last_sale_date', *flags]),
            Case((positive, Rank(window=ranking))).as_('rank'),
            Case((positive, Sum(figures.amount, window=running))).as_(
                'cumulative'),
            Sum(Case((positive, figures.amount), else_=zero),
                window=everyone).as_('company_amount'),
            Sum(Case((selling, figures.revenue), else_=zero),
                window=everyone).as_('company_revenue'),
            Sum(Case((selling, figures.revenue - figures.cost), else_=zero),
                window=everyone).as_('company_margin'))

    def _line_values(self, r, rules, abc_a, abc_b, big_threshold):
        "Return the columns of the lines and their SQL expressions"
        transaction = Transaction()
        zero = Literal(0)
        company_amount = r.company_amount

        def before_below(value):
            "cumulative share before the party < value"
            return ((numeric(r.cumulative - r.amount) * 10000)
                < (_hundredths(value) * numeric(company_amount)))

        if big_threshold is not None:
            big = (r.high_standing == Literal(True)) | (
                (r.amount + r.previous_amount)
                > _hundredths(big_threshold) * 2)
        else:
            big = r.high_standing == Literal(True)
        return {
            'evaluation': Literal(self.id),
            'party': r.party,
            'revenue': cents_to_amount(r.revenue),
            'cost': cents_to_amount(r.cost),
            'gross_margin': cents_to_amount(r.revenue - r.cost),
            'margin_rate': sql_percent(r.revenue - r.cost, r.revenue),
            'amount': cents_to_amount(r.amount),
            'share': Case(
                ((r.amount > zero) & (company_amount > zero),
                    sql_percent(r.amount, company_amount)),
                else_=Literal(Decimal('0.0000'))),
            'rank': r.rank,
            'cumulative_share': Case((r.amount > zero,
                    sql_percent(r.cumulative, company_amount))),
            'abc_class': Case(
                (r.amount <= zero, Null),
                (before_below(abc_a), 'A'),
                (before_below(abc_b), 'B'),
                else_='C'),
            'previous_revenue': cents_to_amount(r.previous_revenue),
            'previous_amount': cents_to_amount(r.previous_amount),
            'growth': Case((r.previous_amount > zero, sql_percent(
                        r.amount - r.previous_amount, r.previous_amount))),
            'order_count': r.order_count,
            'last_sale_date': r.last_sale_date,
            'designated': r.designated,
            'big_customer': big,
            'industry_standing': r.standing,
            'prospect': rules.prospect,
            'lapsed': rules.lapsed,
            'met_criteria': rules.met,
            'current_tier': r.current_tier,
            'proposed_tier': rules.proposed,
            'complaint_general': zero,
            'complaint_serious': zero,
            'complaint_very_serious': zero,
            'create_uid': Literal(transaction.user),
            'create_date': Literal(dt.datetime.now()),
            }

    def _compute_complaint_figures(self):
        """Fill the complaint counts by severity and the average
        satisfaction of the period on the lines of the evaluation"""
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        Complaint = pool.get('crm.complaint')
        Survey = pool.get('crm.satisfaction')
        line = Line.__table__()
        complaint = Complaint.__table__()
        survey = Survey.__table__()
        cursor = Transaction().connection.cursor()
        start = dt.datetime.combine(self.start_date, dt.time())
        end = dt.datetime.combine(
            self.end_date + dt.timedelta(days=1), dt.time())

        figures = defaultdict(lambda: [0, 0, 0, None])
        index = {'general': 0, 'serious': 1, 'very_serious': 2}
        cursor.execute(*complaint.select(
                complaint.party, complaint.severity, Count(complaint.id),
                where=(complaint.company == self.company.id)
                & (complaint.state != 'cancelled')
                & (complaint.received_at >= start)
                & (complaint.received_at < end),
                group_by=[complaint.party, complaint.severity]))
        for party, severity, count in cursor:
            figures[party][index[severity]] = count
        cursor.execute(*survey.select(
                survey.party, Sum(survey.overall), Count(survey.overall),
                where=(survey.company == self.company.id)
                & (survey.date >= self.start_date)
                & (survey.date <= self.end_date),
                group_by=[survey.party]))
        for party, total, count in cursor:
            if count:
                figures[party][3] = (Decimal(total) / count).quantize(
                    Decimal('0.01'))

        # _compute inserts the lines with no complaint
        query, _ = tuple(line.update(
                [line.complaint_general, line.complaint_serious,
                    line.complaint_very_serious, line.satisfaction],
                [Literal(0), Literal(0), Literal(0), Literal(None)],
                where=(line.evaluation == self.id)
                & (line.party == Literal(0))))
        cursor.executemany(query, [
                [*values, self.id, party]
                for party, values in figures.items()])

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
                    & (Coalesce(party.crm_tier, -1) != Coalesce(final, -1)))))

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


class EvaluationLine(CustomerRecNameMixin, ModelSQL, ModelView):
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
        help="Had the qualification designated strategic when computed.")
    big_customer = fields.Boolean("Big Customer", readonly=True)
    industry_standing = fields.Selection(
        [(None, ""), *STANDINGS], "Industry Standing", readonly=True,
        help="The customer's industry standing when computed.")
    prospect = fields.Boolean(
        "Prospect", readonly=True,
        help="A prospect that has not bought: it gets the prospects' tier.")
    lapsed = fields.Boolean(
        "Lapsed", readonly=True,
        help="A former customer without sales in the period: it falls to "
        "the lowest tier for customers with sales and is to be contacted "
        "again.")
    met_criteria = fields.Char("Met Criteria IDs", readonly=True)
    criteria_met = fields.Function(
        fields.Char(
            "Criteria Met",
            help="Why the tier is proposed: the criteria of the proposed "
            "tier that the customer met."),
        'get_criteria_met')
    complaint_general = fields.Integer(
        "General Complaints", readonly=True)
    complaint_serious = fields.Integer(
        "Serious Complaints", readonly=True)
    complaint_very_serious = fields.Integer(
        "Very Serious Complaints", readonly=True)
    satisfaction = fields.Numeric(
        "Average Satisfaction", digits=(3, 2), readonly=True,
        help="Average overall score of the satisfaction surveys and "
        "complaint return visits in the period.")
    current_tier = fields.Many2One(
        'crm.tier', "Current Tier", readonly=True, ondelete='RESTRICT')
    proposed_tier = fields.Many2One(
        'crm.tier', "Proposed Tier", readonly=True, ondelete='RESTRICT')
    override_tier = fields.Many2One(
        'crm.tier', "Override Tier", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))])
    override_reason = fields.Text(
        "Override Reason",
        states={
            'required': Bool(Eval('override_tier')),
            })
    tier = fields.Function(
        fields.Many2One('crm.tier', "Tier"), 'get_tier',
        searcher='search_tier')
    changed = fields.Function(
        fields.Boolean("Tier Changed"), 'get_changed',
        searcher='search_changed')
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
        # The overrides change in the states that let the evaluation's
        # lines change.
        readonly = ~state_in(
            Evaluation._field_states('lines'), 'evaluation_state')
        for name in cls._override_fields:
            field = getattr(cls, name)
            field.states = {**field.states, 'readonly': readonly}

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

    @classmethod
    def _changed_condition(cls, line):
        "The SQL condition of the lines whose final tier is another"
        final = Coalesce(line.override_tier, line.proposed_tier)
        return Coalesce(line.current_tier, -1) != Coalesce(final, -1)

    @classmethod
    def search_changed(cls, name, clause):
        _, operator, value = clause
        if operator not in {'=', '!='}:
            raise ValueError(operator)
        line = cls.__table__()
        query = line.select(line.id, where=cls._changed_condition(line))
        wanted = (operator == '=') == bool(value)
        return [('id', 'in' if wanted else 'not in', query)]

    def get_criteria_met(self, name):
        tier = self.proposed_tier
        if self.lapsed:
            return gettext('crm_module.msg_evaluation_lapsed')
        if self.prospect:
            return gettext('crm_module.msg_evaluation_prospect')
        if tier is None:
            return ''
        met = {int(i) for i in (self.met_criteria or '').split(',') if i}
        return rule_text(tier.combination,
            [c.rec_name for c in tier.criteria if c.id in met])

    def get_resident_required(self, name):
        """A customer of the highest tier whose annual sales reach the
        resident representative threshold (以上 includes the number)"""
        threshold = self.evaluation.resident_threshold
        highest = self.evaluation.highest_tier
        return bool(self.tier and self.tier == highest
            and threshold is not None and self.revenue >= threshold)

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
                if 'lines' not in line.evaluation._editable_fields():
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


def _hundredths(value):
    "A configured amount or percentage in whole hundredths"
    return Literal(int(value * 100))


class _TierRules:
    """The proposed tier of the ranked figures r as SQL, from the tiers'
    criteria: the tiers for customers with sales are tried highest first
    and the lowest takes every other customer with sales and the former
    customers (lapsed); prospects that never bought get the prospects'
    tier; other parties no tier"""

    def __init__(self, r, tiers, prospects):
        self.r = r
        zero = Literal(0)
        *ruled, lowest = tiers
        conditions = [(self._tier(t), t) for t in ruled]
        selling = r.revenue > zero
        former = r.bought == Literal(True)
        cases = [(c, Literal(t.id)) for c, t in conditions]
        cases.append((selling, Literal(lowest.id)))
        cases.append((former, Literal(lowest.id)))
        prospect = (r.prospect == Literal(True)) & ~former
        if prospects:
            cases.append((prospect, Literal(prospects.id)))
        self.proposed = Case(*cases, else_=Null)
        not_ruled = [(c, Literal(False)) for c, _ in conditions]
        self.lapsed = Case(*not_ruled, (selling, Literal(False)),
            (former, Literal(True)), else_=Literal(False))
        self.prospect = Case((prospect, Literal(True)),
            else_=Literal(False))
        met = [Case((self._criterion(c), Literal('%s,' % c.id)),
                else_=Literal(''))
            for t in ruled for c in t.criteria]
        self.met = Literal(',')
        for flag in met:
            self.met = Concat(self.met, flag)

    def _tier(self, tier):
        conditions = [self._criterion(c) for c in tier.criteria]
        if tier.combination == 'any':
            return Or(conditions)
        return And(conditions)

    def _criterion(self, criterion):
        r = self.r
        zero = Literal(0)
        if criterion.kind == 'standing':
            levels = [code for code, _ in STANDINGS[
                    :STANDING_RANK[criterion.standing] + 1]]
            return r.standing.in_(levels)
        if criterion.kind == 'qualification':
            return getattr(r, 'q_%d' % criterion.qualification.id) > zero
        figure, total = {
            'revenue': (r.revenue, None),
            'margin': (r.revenue - r.cost, None),
            'revenue_share': (r.revenue, r.company_revenue),
            'margin_share': (r.revenue - r.cost, r.company_margin),
            }[criterion.measure]
        compare = (operator.ge if criterion.operator == '>='
            else operator.gt)
        value = _hundredths(criterion.value)
        if total is None:
            return compare(figure, value)
        # figure * 100 / total op value, in exact integers
        return (total > zero) & compare(
            numeric(figure) * 10000, value * numeric(total))
