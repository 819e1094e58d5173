import datetime as dt
from decimal import Decimal

from sql import Window
from sql.functions import RowNumber

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.model.fields import SQL_OPERATORS
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import month_add, today
from .common import CustomerRecNameMixin, to_the_minute
from .numeric import achieved_percent
from .exceptions import (
    PlanRevisionError, PlanValidationError, WorkflowStateError)
from .workflow import (
    WorkflowGuardMixin, WorkflowRecordMixin, guarded_transition, in_workflow,
    stamp, stamp_fields, unstamp, workflow)

STATES = [
    ('draft', "Draft"),
    ('submitted', "Submitted"),
    ('approved', "Approved"),
    ('closed', "Closed"),
    ('superseded', "Superseded"),
    ]
# The states of the versions that were approved: one of them is in force
# on each day of the plan's period (AccountPlan.in_force_query).
IN_FORCE_STATES = ['approved', 'closed', 'superseded']
# The states of a revision under way: a plan has one at a time.
OPEN_STATES = ['draft', 'submitted']
# The tiers whose customers need an account plan each half-year.
PLANNED_TIERS = ['strategic', 'key']
# The fields a revision shares with the version it revises.
PERIOD_FIELDS = {'company', 'party', 'start_date', 'end_date'}
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
    superseded_by = fields.Many2One(
        'res.user', "Superseded By", readonly=True,
        help="Who approved the revision that replaced this version.")
    superseded_at = to_the_minute(fields.Timestamp(
        "Superseded At", readonly=True))

    # Versions: the Revise button of an approved plan makes the next one.
    version = fields.Integer(
        "Version", required=True, readonly=True,
        help="1 for the plan as first written, one more per revision.")
    revision_of = fields.Many2One(
        'crm.account.plan', "Revision Of", readonly=True,
        ondelete='RESTRICT',
        help="The earlier version that this revision replaces once "
        "approved.")
    original = fields.Many2One(
        'crm.account.plan', "Original Version", readonly=True,
        ondelete='RESTRICT',
        help="The first version of the plan, shared by all its revisions; "
        "empty on the first version.")
    versions = fields.Function(
        fields.Many2Many(
            'crm.account.plan', None, None, "Versions",
            help="Every version of the plan, the first one first."),
        'get_versions')
    revision_reason = fields.Text(
        "Revision Reason",
        states={
            'invisible': ~Bool(Eval('revision_of')),
            },
        help="Why the plan is adjusted to the actual progress; needed to "
        "submit a revision.")
    effective_date = fields.Date(
        "Effective Date", required=True,
        help="The day from which this version is in force: the start date "
        "for the first version; for a revision, a day of the plan's period "
        "after the effective date of the version it revises.")
    version_in_force = fields.Function(
        fields.Boolean(
            "In Force",
            help="The version of the plan in force today: the latest "
            "approved version whose effective date has come."),
        'get_version_in_force', searcher='search_version_in_force')

    # Fields only a workflow button may write.
    _workflow_field_message = 'crm_module.msg_plan_workflow_field'
    _workflow_fields = {
        'state', 'history', 'version', 'revision_of', 'original',
        *stamp_fields('submitted', 'approved', 'closed', 'superseded')}
    # The fields a user may change in each state: their readonly states and
    # check_locked come from this table. The lines and the reviews change
    # in the states that let their field change and check their own fields
    # (PlanLineMixin, AccountPlanReview). A superseded version is kept as
    # it was approved: nothing changes in it.
    _state_fields = {
        'draft': {
            'account_manager', 'strategy', 'objectives', 'actions',
            'milestones'},
        'submitted': {'rejection_reason'},
        'approved': {'objectives', 'actions', 'milestones', 'reviews'},
        }
    # The versions of a plan share its customer and period; a revision
    # has its own effective date and reason.
    _state_fields_when = (
        ('draft', ~Bool(Eval('revision_of')), PERIOD_FIELDS),
        ('draft', Bool(Eval('revision_of')),
            {'effective_date', 'revision_reason'}),
        )

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
            # when a revision of the plan is approved (approve)
            ('approved', 'superseded'),
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
                # No transition: it makes a new version of the plan and
                # refuses the other states with its own message (revise).
                'revise': {
                    'icon': 'tryton-copy',
                    'invisible': Eval('state') != 'approved',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        versioned = table_h.column_exist('version')
        dated = table_h.column_exist('effective_date')
        super().__register__(module)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        # The plans of the release before revisions are first versions,
        # in force from their start.
        if not versioned:
            cursor.execute(*table.update([table.version], [1]))
        if not dated:
            cursor.execute(*table.update(
                    [table.effective_date], [table.start_date]))

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

    @classmethod
    def default_version(cls):
        return 1

    @classmethod
    def default_effective_date(cls):
        # A first version is in force from its start; create keeps the
        # two equal and revise gives a revision its own date.
        return cls.default_start_date()

    @fields.depends('party', 'account_manager')
    def on_change_party(self):
        if self.party and not self.account_manager:
            self.account_manager = self.party.crm_account_manager

    @fields.depends('start_date', 'revision_of')
    def on_change_start_date(self):
        if not self.revision_of:
            self.effective_date = self.start_date

    @property
    def period_name(self):
        start, end = self.start_date, self.end_date
        if (start, end) == half_year(start):
            return '%s-H%s' % (start.year, 1 if start.month == 1 else 2)
        return '%s - %s' % (start.isoformat(), end.isoformat())

    def get_rec_name(self, name):
        name = '%s %s' % (self.party.rec_name, self.period_name)
        if self.version and self.version > 1:
            name += ' v%s' % self.version
        return name

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

    @property
    def first_version(self):
        "The first version of the plan: the original of its revisions"
        return self.original or self

    @classmethod
    def get_versions(cls, plans, name):
        firsts = {p.id: p.first_version.id for p in plans}
        versions = {}
        for sub in grouped_slice(
                list(set(firsts.values())), backend.MAX_QUERY_PARAMS):
            sub = list(sub)
            for version in cls.search([
                        ['OR',
                            ('id', 'in', sub),
                            ('original', 'in', sub),
                            ],
                        ], order=[('version', 'ASC'), ('id', 'ASC')]):
                versions.setdefault(
                    version.first_version.id, []).append(version.id)
        return {p.id: versions.get(firsts[p.id], []) for p in plans}

    @classmethod
    def validate_fields(cls, plans, field_names):
        super().validate_fields(plans, field_names)
        if field_names & {'party', 'company', 'start_date', 'end_date'}:
            cls.check_overlap(plans)
        if field_names & {
                'start_date', 'end_date', 'effective_date', 'revision_of'}:
            cls.check_effective_date(plans)

    @classmethod
    def check_effective_date(cls, plans):
        """Refuse a revision in force outside its period or not after the
        version it revises; a first version is in force from its start
        (create and write)"""
        for plan in plans:
            previous = plan.revision_of
            if not previous:
                continue
            if not (plan.start_date <= plan.effective_date <= plan.end_date
                    and plan.effective_date > previous.effective_date):
                raise PlanRevisionError(gettext(
                        'crm_module.msg_plan_effective_date',
                        plan=plan.rec_name,
                        date=plan.effective_date.isoformat(),
                        start=plan.start_date.isoformat(),
                        end=plan.end_date.isoformat(),
                        previous=previous.rec_name,
                        previous_date=previous.effective_date.isoformat()))

    @classmethod
    def check_overlap(cls, plans):
        """Refuse a period overlapping an approved plan of the same customer;
        the versions of a plan share its period and do not count"""
        for plan in plans:
            if plan.state in {'closed', 'superseded'}:
                continue
            first = plan.first_version.id
            others = cls.search([
                    ('id', '!=', plan.id),
                    ('id', '!=', first),
                    ['OR',
                        ('original', '=', None),
                        ('original', '!=', first),
                        ],
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

    def _locked_fields(self, values):
        locked = super()._locked_fields(values)
        if not self.revision_of:
            # follows the start date on a first version (write)
            locked.discard('effective_date')
        return locked

    @classmethod
    def _raise_locked(cls, plan, fields_):
        if plan.revision_of and fields_ & PERIOD_FIELDS:
            raise PlanRevisionError(gettext(
                    'crm_module.msg_plan_revision_period',
                    plan=plan.rec_name, previous=plan.revision_of.rec_name))
        raise WorkflowStateError(gettext(
                'crm_module.msg_plan_modify',
                plan=plan.rec_name,
                state=plan.state_string))

    @classmethod
    def create(cls, vlist):
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            # a first version is in force from its start
            if not values.get('revision_of'):
                values['effective_date'] = (
                    values.get('start_date') or cls.default_start_date())
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        moved = set()
        for plans, values in zip(actions, actions, strict=False):
            if {'start_date', 'effective_date'} & set(values):
                moved.update(p.id for p in plans)
        # a first version stays in force from its start
        to_date = [p for p in cls.browse(list(moved))
            if not p.revision_of and p.effective_date != p.start_date]
        if to_date:
            with workflow():
                super().write(*[a for p in to_date
                        for a in ([p], {'effective_date': p.start_date})])

    @classmethod
    def copy(cls, plans, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('reviews', None)
        default.setdefault('milestones', None)
        default.setdefault('rejection_reason', None)
        # a copy is a new plan unless revise makes it a revision
        default.setdefault('version', 1)
        default.setdefault('revision_reason', None)
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
        for plan in plans:
            if plan.revision_of and not (plan.revision_reason or '').strip():
                raise PlanRevisionError(gettext(
                        'crm_module.msg_plan_revision_reason',
                        plan=plan.rec_name))
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
            previous = plan.revision_of
            if previous and previous.state != 'approved':
                raise PlanRevisionError(gettext(
                        'crm_module.msg_plan_revision_previous',
                        plan=plan.rec_name, previous=previous.rec_name,
                        state=previous.state_string))
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
        cls._supersede([p for p in plans if p.revision_of])

    @classmethod
    def _supersede(cls, revisions):
        """Mark superseded the versions that the approved revisions
        replace; each stays in force until its revision's effective date"""
        previous = [r.revision_of for r in revisions]
        if not previous:
            return
        cls.write(previous, {
                **stamp('superseded'),
                'state': 'superseded',
                })
        reasons = {r.revision_of.id: r.revision_reason for r in revisions}
        cls._log(previous, 'approved', 'superseded',
            reason=lambda p: reasons[p.id])

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
        # The version in force is closed, not one a revision is replacing.
        cls._refuse_open_revisions(plans, 'crm_module.msg_plan_close_revision')
        for plan in plans:
            if not plan.reviews:
                raise PlanValidationError(gettext(
                        'crm_module.msg_plan_close_review',
                        plan=plan.rec_name))
        cls.write(plans, stamp('closed'))
        cls._log(plans, 'approved', 'closed')

    @classmethod
    def _refuse_open_revisions(cls, plans, message):
        """Raise message about the first draft or submitted revision of
        plans, if any"""
        revisions = cls.search([
                ('revision_of', 'in', [p.id for p in plans]),
                ('state', 'in', OPEN_STATES),
                ], order=[('id', 'ASC')], limit=1)
        if revisions:
            revision, = revisions
            raise PlanRevisionError(gettext(message,
                    plan=revision.revision_of.rec_name,
                    revision=revision.rec_name,
                    state=revision.state_string))

    @classmethod
    @ModelView.button_action('crm_module.act_plan_revision')
    def revise(cls, plans):
        "Open the new draft version of each approved plan"
        revisions = cls.create_revisions(plans)
        return {
            'res_id': [r.id for r in revisions],
            }

    @classmethod
    def create_revisions(cls, plans):
        """Return a draft revision of each approved plan: a copy of its
        strategy, objectives and actions (milestones included, once), not
        of its reviews or state history, with the next version number, in
        force from today or, at the earliest, the day after the plan's own
        effective date, and at the latest on its end date.

        A plan in another state, or with a revision under way, is refused.
        """
        plans = list(dict.fromkeys(plans))
        for plan in plans:
            if plan.state != 'approved':
                raise PlanRevisionError(gettext(
                        'crm_module.msg_plan_revise_state',
                        plan=plan.rec_name, state=plan.state_string))
        cls._refuse_open_revisions(plans, 'crm_module.msg_plan_revision_open')
        day = today()
        revisions = []
        with workflow():
            for plan in plans:
                revisions.extend(cls.copy([plan], default={
                            'version': plan.version + 1,
                            'revision_of': plan.id,
                            'original': plan.first_version.id,
                            'effective_date': min(plan.end_date, max(day,
                                    plan.effective_date
                                    + dt.timedelta(days=1))),
                            }))
        return revisions

    @classmethod
    def in_force_query(cls, start, end, company=None, parties=None):
        """Return the query of the version in force at end of each
        customer's plan overlapping start to end: company, party, plan.

        The versions of a plan that were approved (IN_FORCE_STATES) are in
        force from their effective date until the next one's; at end, or
        at the plan's end date when it ends before, it is the latest one
        effective on or before end. Where two plans overlap start to end
        (one ends and the next starts in it), the one starting last.
        company is a record or an id, parties ids or a query of ids."""
        plan = cls.__table__()
        where = (plan.state.in_(IN_FORCE_STATES)
            & (plan.start_date <= end)
            & (plan.end_date >= start)
            # the effective date of a version is in its period, so before
            # the plan's end date when that is before end
            & (plan.effective_date <= end))
        if company is not None:
            where &= plan.company == int(company)
        if parties is not None:
            if not hasattr(parties, 'select'):
                parties = [int(p) for p in parties]
            where &= plan.party.in_(parties)
        ranked = plan.select(
            plan.company, plan.party, plan.id.as_('plan'),
            RowNumber(window=Window([plan.company, plan.party],
                    order_by=[plan.start_date.desc, plan.effective_date.desc,
                        plan.version.desc, plan.id.desc])).as_('rank'),
            where=where)
        return ranked.select(
            ranked.company, ranked.party, ranked.plan,
            where=ranked.rank == 1)

    @classmethod
    def get_version_in_force(cls, plans, name):
        cursor = Transaction().connection.cursor()
        day = today()
        in_force = set()
        for sub in grouped_slice(plans, backend.MAX_QUERY_PARAMS):
            query = cls.in_force_query(
                day, day, parties={p.party.id for p in sub})
            cursor.execute(*query.select(query.plan))
            in_force.update(p for p, in cursor)
        return {p.id: p.id in in_force for p in plans}

    @classmethod
    def search_version_in_force(cls, name, clause):
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        day = today()
        query = cls.in_force_query(day, day)
        return [('id', 'in' if wanted else 'not in',
                query.select(query.plan))]

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



class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_plan_missing = fields.Function(
        fields.Boolean(
            "No Current Plan",
            help="A strategic or key customer without an approved account "
            "plan for the current half-year."),
        'get_crm_plan_missing', searcher='search_crm_plan_missing')

    @classmethod
    def _crm_plan_missing_query(cls, ids=None):
        """Return the query of the ids of the customers of a tier in
        PLANNED_TIERS with no approved version of an account plan (closed
        or superseded since, or approved) whose period overlaps today's
        half-year, for the company of the context; among ids if given"""
        pool = Pool()
        Plan = pool.get('crm.account.plan')
        Tier = pool.get('crm.tier')
        party = cls.__table__()
        plan = Plan.__table__()
        tier = Tier.__table__()
        start, end = half_year(today())
        planned = ((plan.state.in_(IN_FORCE_STATES))
            & (plan.start_date <= end)
            & (plan.end_date >= start))
        tiers = tier.code.in_(PLANNED_TIERS)
        company = Transaction().context.get('company')
        if company is not None:
            planned &= plan.company == company
            tiers &= tier.company == company
        if ids is not None:
            tiers &= SQL_OPERATORS['in'](party.id, ids)
        return party.join(tier, condition=tier.id == party.crm_tier).select(
            party.id,
            where=tiers & ~party.id.in_(
                plan.select(plan.party, where=planned)))

    @classmethod
    def get_crm_plan_missing(cls, parties, name):
        cursor = Transaction().connection.cursor()
        missing = set()
        for sub in grouped_slice(parties, backend.MAX_QUERY_PARAMS):
            cursor.execute(*cls._crm_plan_missing_query(
                    ids=[p.id for p in sub]))
            missing.update(p for p, in cursor)
        return {p.id: p.id in missing for p in parties}

    @classmethod
    def search_crm_plan_missing(cls, name, clause):
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        return [('id', 'in' if wanted else 'not in',
                cls._crm_plan_missing_query())]
