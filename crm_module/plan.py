import datetime as dt
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .clock import month_add, today
from .common import CustomerRecNameMixin, to_the_minute
from .numeric import achieved_percent
from .exceptions import PlanValidationError, WorkflowStateError
from .workflow import (
    WorkflowGuardMixin, WorkflowRecordMixin, guarded_transition, in_workflow,
    stamp, stamp_fields, unstamp, workflow)

STATES = [
    ('draft', "Draft"),
    ('submitted', "Submitted"),
    ('approved', "Approved"),
    ('closed', "Closed"),
    ]
OBJECTIVE_KINDS = [
    ('revenue', "Revenue"),
    ('margin', "Gross Margin"),
    ('share', "Share of Wallet %"),
    ('new_products', "New Products"),
    ('text', "Free Text"),
    ]
# Objectives whose actual comes from the monthly sales summaries.
SALES_KINDS = {'revenue', 'margin'}
ACTION_STATUSES = [
    ('open', "Open"),
    ('done', "Done"),
    ('cancelled', "Cancelled"),
    ]
AMOUNT = (16, 2)


def half_year(date):
    "Return the first and last day of the half-year of date"
    start = date.replace(month=1 if date.month <= 6 else 7, day=1)
    return start, month_add(start, 6) - dt.timedelta(days=1)


class AccountPlan(WorkflowGuardMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'crm.account.plan'
    __string__ = "Account Plan"

    # The fields' readonly states come from _state_fields below.
    company = fields.Many2One('company.company', "Company", required=True)
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    account_manager = fields.Many2One(
        'company.employee', "Key Account Manager",
        domain=[('company', '=', Eval('company', -1))])
    start_date = fields.Date(
        "Start Date", required=True,
        domain=[('start_date', '<=', Eval('end_date', None))])
    end_date = fields.Date(
        "End Date", required=True,
        domain=[('end_date', '>=', Eval('start_date', None))])
    strategy = fields.Text("Strategy")
    objectives = fields.One2Many(
        'crm.account.plan.objective', 'plan', "Objectives")
    actions = fields.One2Many('crm.account.plan.action', 'plan', "Actions")
    milestones = fields.One2Many(
        'crm.account.plan.action', 'plan', "Milestones",
        filter=[('milestone', '=', True)])
    reviews = fields.One2Many('crm.account.plan.review', 'plan', "Reviews")
    visits = fields.Function(
        fields.Many2Many('crm.visit', None, None, "Visits"),
        'get_visits')
    rejection_reason = fields.Text(
        "Rejection Reason",
        help="Why a manager sends the plan back to draft.")
    state = fields.Selection(STATES, "State", readonly=True, sort=False)
    state_string = state.translated('state')
    submitted_by = fields.Many2One('res.user', "Submitted By", readonly=True)
    submitted_at = to_the_minute(fields.Timestamp(
        "Submitted At", readonly=True))
    approved_by = fields.Many2One('res.user', "Approved By", readonly=True)
    approved_at = to_the_minute(fields.Timestamp("Approved At", readonly=True))
    closed_by = fields.Many2One('res.user', "Closed By", readonly=True)
    closed_at = to_the_minute(fields.Timestamp("Closed At", readonly=True))
    history = fields.One2Many(
        'crm.account.plan.log', 'plan', "State History", readonly=True)

    # Fields only a workflow button may write.
    _workflow_field_message = 'crm_module.msg_plan_workflow_field'
    _workflow_fields = {
        'state', 'history',
        *stamp_fields('submitted', 'approved', 'closed')}
    # The fields a user may change in each state: their readonly states and
    # check_locked come from this table. The lines and the reviews change
    # in the states that let their field change and check their own fields
    # (PlanLineMixin, AccountPlanReview).
    _state_fields = {
        'draft': {
            'company', 'party', 'account_manager', 'start_date', 'end_date',
            'strategy', 'objectives', 'actions', 'milestones'},
        'submitted': {'rejection_reason'},
        'approved': {'objectives', 'actions', 'milestones', 'reviews'},
        }

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.party, Index.Equality()),
                (t.start_date, Index.Range())))
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'submitted'),
            ('submitted', 'approved'),
            ('submitted', 'draft'),
            ('approved', 'closed'),
            }
        # A button is shown in the states of its transition (workflow.py).
        cls._buttons.update({
                'submit': {
                    'icon': 'tryton-forward',
                    },
                'approve': {
                    'icon': 'tryton-ok',
                    },
                'reject': {
                    'icon': 'tryton-back',
                    },
                'close': {
                    'icon': 'tryton-close',
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'draft'

    @classmethod
    def default_start_date(cls):
        return half_year(today())[0]

    @classmethod
    def default_end_date(cls):
        return half_year(today())[1]

    @fields.depends('party', 'account_manager')
    def on_change_party(self):
        if self.party and not self.account_manager:
            self.account_manager = self.party.crm_account_manager

    @property
    def period_name(self):
        start, end = self.start_date, self.end_date
        if (start, end) == half_year(start):
            return '%s-H%s' % (start.year, 1 if start.month == 1 else 2)
        return '%s - %s' % (start.isoformat(), end.isoformat())

    def get_rec_name(self, name):
        return '%s %s' % (self.party.rec_name, self.period_name)

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('party.rec_name', *clause[1:])]

    def get_visits(self, name):
        Visit = Pool().get('crm.visit')
        return [v.id for v in Visit.search([
                    ('company', '=', self.company.id),
                    ('party', '=', self.party.id),
                    ('date', '>=', self.start_date),
                    ('date', '<=', self.end_date),
                    ])]

    @classmethod
    def validate_fields(cls, plans, field_names):
        super().validate_fields(plans, field_names)
        if field_names & {'party', 'company', 'start_date', 'end_date'}:
            cls.check_overlap(plans)

    @classmethod
    def check_overlap(cls, plans):
        "Refuse a period overlapping an approved plan of the same customer"
        for plan in plans:
            if plan.state == 'closed':
                continue
            others = cls.search([
                    ('id', '!=', plan.id),
                    ('company', '=', plan.company.id),
                    ('party', '=', plan.party.id),
                    ('state', 'in', ['approved', 'closed']),
                    ('start_date', '<=', plan.end_date),
                    ('end_date', '>=', plan.start_date),
                    ], limit=1)
            if others:
                other, = others
                raise PlanValidationError(gettext(
                        'crm_module.msg_plan_overlap',
                        plan=plan.rec_name, other=other.rec_name,
                        state=other.state_string))

    @classmethod
    def _raise_locked(cls, plan, fields_):
        raise WorkflowStateError(gettext(
                'crm_module.msg_plan_modify',
                plan=plan.rec_name,
                state=plan.state_string))

    @classmethod
    def copy(cls, plans, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('reviews', None)
        default.setdefault('milestones', None)
        default.setdefault('rejection_reason', None)
        return super().copy(plans, default=default)

    @classmethod
    def delete(cls, plans):
        for plan in plans:
            if plan.state != 'draft':
                raise WorkflowStateError(gettext(
                        'crm_module.msg_plan_delete',
                        plan=plan.rec_name, state=plan.state_string))
        with workflow():
            super().delete(plans)

    @classmethod
    def _log(cls, plans, from_state, to_state, reason=None):
        Log = Pool().get('crm.account.plan.log')
        Log.create([{
                    'plan': p.id,
                    'from_state': from_state,
                    'to_state': to_state,
                    'user': Transaction().user,
                    'reason': reason(p) if reason else None,
                    } for p in plans])

    @classmethod
    @ModelView.button
    @guarded_transition('submitted')
    def submit(cls, plans):
        cls.write(plans, stamp('submitted'))
        cls._log(plans, 'draft', 'submitted')

    @classmethod
    @ModelView.button
    @guarded_transition('approved')
    def approve(cls, plans):
        for plan in plans:
            if not plan.objectives:
                raise PlanValidationError(gettext(
                        'crm_module.msg_plan_no_objectives',
                        plan=plan.rec_name))
        for plan in plans:
            # Also against the other plans approved in this same call.
            cls.check_overlap([plan])
            cls.write([plan], {
                    **stamp('approved'),
                    'rejection_reason': None,
                    })
            # The transition writes the state after this function: write it
            # now so that the next plan of the call sees this one approved.
            cls.write([plan], {'state': 'approved'})
        cls._log(plans, 'submitted', 'approved')

    @classmethod
    @ModelView.button
    @guarded_transition('draft')
    def reject(cls, plans):
        for plan in plans:
            if not (plan.rejection_reason or '').strip():
                raise PlanValidationError(gettext(
                        'crm_module.msg_plan_reject_reason',
                        plan=plan.rec_name))
        cls.write(plans, unstamp('submitted'))
        cls._log(plans, 'submitted', 'draft',
            reason=lambda p: p.rejection_reason)

    @classmethod
    @ModelView.button
    @guarded_transition('closed')
    def close(cls, plans):
        for plan in plans:
            if not plan.reviews:
                raise PlanValidationError(gettext(
                        'crm_module.msg_plan_close_review',
                        plan=plan.rec_name))
        cls.write(plans, stamp('closed'))
        cls._log(plans, 'approved', 'closed')

    def get_sales_actuals(self):
        """Return the revenue and gross margin of the customer in the plan's
        period in company currency, from the monthly sales summaries
        converted as every figure is (crm.sales.summary's company_totals);
        None for both while a currency rate is missing"""
        pool = Pool()
        Party = pool.get('party.party')
        Summary = pool.get('crm.sales.summary')
        party = Party.__table__()
        months, missing = Summary.company_totals(
            self.company, self.start_date.replace(day=1), self.end_date,
            parties=party.select(
                party.id, where=party.id == self.party.id))
        if missing:
            return None, None
        revenue = sum((t[0] for t in months.values()), Decimal(0))
        cost = sum((t[1] for t in months.values()), Decimal(0))
        return revenue, revenue - cost


class AccountPlanLog(WorkflowRecordMixin, ModelSQL, ModelView):
    __name__ = 'crm.account.plan.log'
    __string__ = "Account Plan State Change"
    _record_message = 'crm_module.msg_plan_log'
    # deleted with their plan
    _record_delete = 'workflow'

    plan = fields.Many2One(
        'crm.account.plan', "Plan", required=True, readonly=True,
        ondelete='CASCADE')
    from_state = fields.Selection(STATES, "From State", readonly=True)
    to_state = fields.Selection(STATES, "To State", readonly=True)
    user = fields.Many2One('res.user', "Changed By", readonly=True)
    date = fields.Function(
        to_the_minute(fields.Timestamp("Changed At")), 'get_date')
    reason = fields.Text("Reason", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.plan, Index.Equality())))
        cls._order = [('id', 'DESC')]

    def get_date(self, name):
        return self.create_date


class PlanLineMixin:
    """Lines of a plan, which change in the states of the plan that let its
    field _plan_field change (AccountPlan._state_fields)"""
    __slots__ = ()
    _plan_field = None
    # per plan state, the only fields of the lines that may change in it;
    # lines are then neither created nor deleted
    _line_fields = {}

    @classmethod
    def _check_plans(cls, plans, values=None, changing_lines=False):
        """Refuse to change lines of plans in a state that locks them;
        changing_lines is for creating and deleting lines"""
        if in_workflow():
            return
        for plan in plans:
            allowed = cls._plan_field in plan._editable_fields()
            line_fields = cls._line_fields.get(plan.state)
            if allowed and line_fields is not None:
                allowed = not changing_lines and set(values) <= line_fields
            if not allowed:
                raise WorkflowStateError(gettext(
                        'crm_module.msg_plan_line_modify',
                        line=cls.__names__()['model'], plan=plan.rec_name,
                        state=plan.state_string))

    @classmethod
    def create(cls, vlist):
        Plan = Pool().get('crm.account.plan')
        cls._check_plans(
            Plan.browse({v['plan'] for v in vlist if v.get('plan')}),
            changing_lines=True)
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for lines, values in zip(actions, actions, strict=False):
            if 'plan' in values and not in_workflow():
                raise WorkflowStateError(gettext(
                        'crm_module.msg_plan_line_move'))
            cls._check_plans({line.plan for line in lines}, values)
        super().write(*args)

    @classmethod
    def delete(cls, lines):
        cls._check_plans({line.plan for line in lines}, changing_lines=True)
        super().delete(lines)


class AccountPlanObjective(PlanLineMixin, ModelSQL, ModelView):
    __name__ = 'crm.account.plan.objective'
    __string__ = "Account Plan Objective"
    _plan_field = 'objectives'
    _line_fields = {'approved': {'actual_value'}}

    plan = fields.Many2One(
        'crm.account.plan', "Plan", required=True, ondelete='CASCADE')
    kind = fields.Selection(OBJECTIVE_KINDS, "Kind", required=True)
    kind_string = kind.translated('kind')
    description = fields.Char(
        "Description",
        states={
            'required': Eval('kind') == 'text',
            })
    target = fields.Numeric(
        "Target", digits=AMOUNT,
        states={
            'required': Eval('kind') != 'text',
            'invisible': Eval('kind') == 'text',
            },
        help="In company currency for revenue and margin, in percent for "
        "share of wallet, in number of products for new products.")
    actual_value = fields.Numeric(
        "Actual Entered", digits=AMOUNT,
        states={
            'invisible': Eval('kind').in_([*SALES_KINDS, 'text']),
            },
        help="The measured value for share of wallet and new products.")
    actual = fields.Function(
        fields.Numeric(
            "Actual", digits=AMOUNT,
            help="From the monthly sales summaries of the plan's period "
            "for revenue and margin, as entered otherwise."),
        'get_actuals')
    achievement = fields.Function(
        fields.Numeric("Achieved %", digits=(9, 2)), 'get_actuals')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.plan, Index.Equality())))
        cls._order = [('plan', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_kind(cls):
        return 'revenue'

    def get_rec_name(self, name):
        return self.description or self.kind_string

    @classmethod
    def get_actuals(cls, objectives, names):
        sales = {}
        result = {n: {} for n in names}
        for objective in objectives:
            if objective.kind in SALES_KINDS:
                plan = objective.plan
                if plan.id not in sales:
                    sales[plan.id] = plan.get_sales_actuals()
                revenue, margin = sales[plan.id]
                actual = revenue if objective.kind == 'revenue' else margin
            elif objective.kind == 'text':
                actual = None
            else:
                actual = objective.actual_value
            values = {
                'actual': actual,
                'achievement': achieved_percent(actual, objective.target)
                if objective.kind != 'text' else None,
                }
            for name in names:
                result[name][objective.id] = values[name]
        return result


class AccountPlanAction(
        CustomerRecNameMixin, PlanLineMixin, ModelSQL, ModelView):
    __name__ = 'crm.account.plan.action'
    __string__ = "Account Plan Action"
    _customer_field = 'plan.party'
    _rec_name_fields = ('description',)
    _plan_field = 'actions'

    plan = fields.Many2One(
        'crm.account.plan', "Plan", required=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    description = fields.Char("Action", required=True)
    owner = fields.Many2One(
        'company.employee', "Owner",
        domain=[('company', '=', Eval('company', -1))])
    due_date = fields.Date("Due Date")
    status = fields.Selection(ACTION_STATUSES, "Status", required=True)
    milestone = fields.Boolean(
        "Milestone", help="A step by which the plan's progress is judged.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.plan, Index.Equality())))
        cls._order = [('due_date', 'ASC NULLS LAST'), ('id', 'ASC')]

    @classmethod
    def default_status(cls):
        return 'open'

    @classmethod
    def default_milestone(cls):
        return False

    @fields.depends('plan', '_parent_plan.company')
    def on_change_with_company(self, name=None):
        return self.plan.company if self.plan else None

    @classmethod
    def search_company(cls, name, clause):
        return [('plan.' + clause[0], *clause[1:])]


class AccountPlanReview(ModelSQL, ModelView):
    __name__ = 'crm.account.plan.review'
    __string__ = "Account Plan Review"

    plan = fields.Many2One(
        'crm.account.plan', "Plan", required=True, ondelete='CASCADE',
        domain=[('state', '=', 'approved')])
    date = fields.Date("Date", required=True)
    reviewer = fields.Many2One('res.user', "Reviewer", readonly=True)
    lines = fields.One2Many(
        'crm.account.plan.review.line', 'review', "Actual vs Target")
    adjustments = fields.Text("Adjustments")
    next_steps = fields.Text("Next Steps")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.plan, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_date(cls):
        return today()

    @classmethod
    def default_reviewer(cls):
        return Transaction().user

    def get_rec_name(self, name):
        return '%s @ %s' % (self.plan.rec_name, self.date.isoformat())

    @classmethod
    def _check_plans(cls, plans):
        "Refuse to change reviews of plans whose state locks their reviews"
        for plan in plans:
            if 'reviews' not in plan._editable_fields():
                raise WorkflowStateError(gettext(
                        'crm_module.msg_plan_review_state',
                        plan=plan.rec_name, state=plan.state_string))

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Plan = pool.get('crm.account.plan')
        Line = pool.get('crm.account.plan.review.line')
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            values['reviewer'] = Transaction().user
            values.pop('lines', None)
        cls._check_plans(
            Plan.browse({v['plan'] for v in vlist if v.get('plan')}))
        reviews = super().create(vlist)
        with workflow():
            Line.create([line for r in reviews for line in r._get_lines()])
        return reviews

    def _get_lines(self):
        "Return the values of a line per objective with its actual now"
        return [{
                'review': self.id,
                'objective': o.id,
                'target': o.target,
                'actual': o.actual,
                'achievement': o.achievement,
                } for o in self.plan.objectives]

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for reviews, values in zip(actions, actions, strict=False):
            if {'plan', 'reviewer'} & set(values):
                raise WorkflowStateError(gettext(
                        'crm_module.msg_plan_review_fixed'))
            cls._check_plans({r.plan for r in reviews})
        super().write(*args)

    @classmethod
    def delete(cls, reviews):
        if not in_workflow():
            cls._check_plans({r.plan for r in reviews})
        with workflow():
            super().delete(reviews)


class AccountPlanReviewLine(WorkflowRecordMixin, ModelSQL, ModelView):
    __name__ = 'crm.account.plan.review.line'
    __string__ = "Account Plan Review Line"
    # made and deleted with their review; only the comment is written
    _record_message = 'crm_module.msg_plan_review_line_create'
    _record_write = None
    _record_delete = 'workflow'

    review = fields.Many2One(
        'crm.account.plan.review', "Review", required=True,
        ondelete='CASCADE', readonly=True)
    objective = fields.Many2One(
        'crm.account.plan.objective', "Objective", required=True,
        ondelete='CASCADE', readonly=True)
    target = fields.Numeric("Target", digits=AMOUNT, readonly=True)
    actual = fields.Numeric("Actual", digits=AMOUNT, readonly=True)
    achievement = fields.Numeric("Achieved %", digits=(9, 2), readonly=True)
    comment = fields.Text("Comment")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.review, Index.Equality())))
        cls._order = [('review', 'ASC'), ('id', 'ASC')]

    @classmethod
    def write(cls, *args):
        Review = Pool().get('crm.account.plan.review')
        actions = iter(args)
        for lines, values in zip(actions, actions, strict=False):
            if set(values) - {'comment'}:
                raise WorkflowStateError(gettext(
                        'crm_module.msg_plan_review_line_figures'))
            Review._check_plans({line.review.plan for line in lines})
        super().write(*args)

