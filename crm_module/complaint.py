import datetime as dt
import json
from collections import namedtuple
from decimal import Decimal
from email.message import EmailMessage

from sql.functions import CurrentTimestamp

from trytond import config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.sendmail import send_message_transactional
from trytond.transaction import Transaction, without_check_access

from .clock import company_time, now
from .common import CustomerRecNameMixin, column_added
from .satisfaction import check_scores
from .tier import DEFAULT_SATISFACTION_TARGET
from .exceptions import (
    ComplaintApprovalError, ComplaintCancelError, ComplaintCloseError,
    ComplaintDeleteError, ComplaintLockedError, ComplaintReadError,
    ComplaintReopenError,
    ComplaintResolveError, ComplaintTimeLimitError)
from .workflow import (
    WorkflowGuardMixin, WorkflowRecordMixin, guarded_transition,
    in_workflow, requires_state, stamp, stamp_fields, unstamp, workflow)

STATES = [
    ('received', "Received"),
    ('acknowledged', "Acknowledged"),
    ('investigating', "Investigating"),
    ('awaiting_approval', "Awaiting Approval"),
    ('resolving', "Resolving"),
    ('return_visit', "Return Visit"),
    ('closed', "Closed"),
    ('cancelled', "Cancelled"),
    ]
CHANNELS = [
    ('phone', "Phone"),
    ('email', "E-mail"),
    ('letter', "Letter"),
    ('web', "Web/API"),
    ('visit', "Visit"),
    ]
CATEGORIES = [
    ('quality', "Product Quality"),
    ('service', "Service"),
    ('delivery', "Delivery/Logistics"),
    ('billing', "Price/Billing"),
    ('technical', "Technical Support"),
    ('other', "Other"),
    ]
SEVERITIES = [
    ('general', "General"),
    ('serious', "Serious"),
    ('very_serious', "Very Serious"),
    ]
LIMIT_STATUSES = [
    ('pending', "Pending"),
    ('met', "Met"),
    ('breached', "Breached"),
    ]
ESCALATION_KINDS = [
    ('response', "Response"),
    ('handling', "Handling"),
    ('resolution', "Resolution"),
    ('return_visit', "Return Visit"),
    ]
OPEN_STATES = [
    'received', 'acknowledged', 'investigating', 'awaiting_approval',
    'resolving', 'return_visit']
# States in which the actions are not yet carried out
UNRESOLVED_STATES = OPEN_STATES[:-1]
# The states in which each time limit is still to be met: the response by
# Acknowledge, the start of handling by Investigate, the resolution by
# Resolved, the return visit by the answer of the customer (Close or Not
# Satisfied)
LIMIT_STATES = {
    'response': ['received'],
    'handling': ['received', 'acknowledged'],
    'resolution': UNRESOLVED_STATES,
    'return_visit': ['return_visit'],
    }
# The limits counted from the receipt; the return visit's from the
# resolution
RECEIPT_LIMITS = ['response', 'handling', 'resolution']
# The severities the supervising leader must have read [S0-35]
TO_READ_SEVERITIES = ['serious', 'very_serious']
# A complaint handled first is resolved before its measures are approved:
# until then they are still analysed and submitted.
HANDLED_FIRST_UNAPPROVED = Eval('handled_first', False) & ~Eval('approved_at')

# The shipped time limits (doc/policy.md#complaints-and-time-limits): first
# response and start of handling within 24 hours (rulebook [S2-71]),
# resolution in 7 / 3 / 1 days by severity (product default); strategic and
# key customers first [S2-47].
DEFAULT_RESPONSE = dt.timedelta(hours=24)
DEFAULT_HANDLING = dt.timedelta(hours=24)
DEFAULT_RESOLUTION = {
    'general': dt.timedelta(days=7),
    'serious': dt.timedelta(days=3),
    'very_serious': dt.timedelta(days=1),
    }
# The return visit follows the resolution at once [S0-39]: within 24 hours
# (product default)
DEFAULT_RETURN_VISIT = dt.timedelta(hours=24)
DEFAULT_PRIORITY = 20
STRATEGIC_PRIORITY = 10
# The tiers whose customers' complaints come first [S2-47]
FIRST_TIERS = ['strategic', 'key']

Limit = namedtuple('Limit', [
        'response_time', 'handling_time', 'resolution_time',
        'return_visit_time', 'priority'])


def _hours(start, end):
    return (Decimal((end - start).total_seconds()) / 3600).quantize(
        Decimal('0.01'))


def notify_employees(employees, complaint, record, message):
    """Notify in the ERP the users of employees about complaint, with the
    method message of record giving the label and description in each
    user's language"""
    pool = Pool()
    User = pool.get('res.user')
    Notification = pool.get('res.notification')
    ModelData = pool.get('ir.model.data')
    if not employees:
        return 0
    action_id = ModelData.get_id('crm_module', 'act_complaint_form')
    with without_check_access():
        users = User.search([
                ('employees', 'in', [e.id for e in employees]),
                ])
    notifications = []
    for user in users:
        language = user.language.code if user.language else None
        with Transaction().set_context(language=language):
            # a record of the new context: reading the one given would
            # recompute the names of every record of its cache
            label, description = getattr(
                record.__class__(record.id), message)()
        notifications.append({
                'user': user.id,
                'label': label,
                'description': description,
                'icon': 'tryton-notification',
                'model': complaint.__name__,
                'records': json.dumps([complaint.id]),
                'action': action_id,
                })
    if notifications:
        with without_check_access():
            Notification.create(notifications)
    return len(users)


class TimeLimit(ModelSQL, ModelView):
    "Complaint time limits by severity and customer tier"
    __name__ = 'crm.complaint.time_limit'
    __string__ = "Complaint Time Limit"

    company = fields.Many2One('company.company', "Company", required=True)
    severity = fields.Selection(SEVERITIES, "Severity", required=True)
    severity_string = severity.translated('severity')
    tier = fields.Many2One(
        'crm.tier', "Customer Tier", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        help="Leave empty for the customers of every other tier.")
    response_time = fields.TimeDelta(
        "Response Time", required=True,
        help="Time from receipt to the first response to the customer.")
    handling_time = fields.TimeDelta(
        "Handling Time", required=True,
        help="Time from receipt until the handling starts: investigating "
        "with a responsible department.")
    resolution_time = fields.TimeDelta(
        "Resolution Time", required=True,
        help="Time from receipt until the handling measures are carried "
        "out. The shipped 7 / 3 / 1 days by severity are the product's "
        "defaults, not the rulebook's.")
    return_visit_time = fields.TimeDelta(
        "Return Visit Time", required=True,
        help="Time from the resolution until the receiving department has "
        "called the customer back. The rulebook says at once; the shipped "
        "24 hours are the product's default.")
    priority = fields.Integer(
        "Priority", required=True,
        help="Complaints with a lower number are handled first.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('company', 'ASC'), ('priority', 'ASC'), ('severity', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def __register__(cls, module):
        # Releases before 4/7 knew no handling time and no return visit
        # time.
        upgraded = column_added(cls, module, 'handling_time')
        return_visit = column_added(cls, module, 'return_visit_time')
        super().__register__(module)
        if return_visit:
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update([table.return_visit_time],
                    [cls.return_visit_time.sql_format(
                            DEFAULT_RETURN_VISIT)]))
        if upgraded:
            cls._migrate_handling_and_key_rows()

    @classmethod
    def _migrate_handling_and_key_rows(cls):
        """Give every row the shipped handling time, and the companies
        whose matrix is still the one shipped before 4/7 the rows of their
        key tier, with the strategic precedence"""
        pool = Pool()
        Tier = pool.get('crm.tier')
        tier = Tier.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.handling_time],
                [cls.handling_time.sql_format(DEFAULT_HANDLING)]))

        def duration(value):
            if isinstance(value, dt.timedelta):
                return value
            return dt.timedelta(seconds=float(value))

        cursor.execute(*table.join(tier, 'LEFT',
                condition=table.tier == tier.id).select(
                table.company, tier.code, table.severity,
                table.response_time, table.resolution_time, table.priority))
        matrices = {}
        for company, code, severity, response, resolution, priority in (
                cursor):
            matrices.setdefault(company, set()).add((code, severity,
                    duration(response), duration(resolution), priority))
        former = {(code, severity, DEFAULT_RESPONSE,
                DEFAULT_RESOLUTION[severity], priority)
            for code, priority in [
                ('strategic', STRATEGIC_PRIORITY), (None, DEFAULT_PRIORITY)]
            for severity, _ in SEVERITIES}
        former_without_strategic = {r for r in former if r[0] is None}
        for company, matrix in matrices.items():
            if matrix not in (former, former_without_strategic):
                continue  # edited by the company: kept as it is
            cursor.execute(*tier.select(tier.id,
                    where=(tier.company == company) & (tier.code == 'key')))
            key_tiers = [i for i, in cursor]
            rows = []
            for tier_id in key_tiers:
                for severity, _ in SEVERITIES:
                    rows.append([company, severity, tier_id,
                            cls.response_time.sql_format(DEFAULT_RESPONSE),
                            cls.handling_time.sql_format(DEFAULT_HANDLING),
                            cls.resolution_time.sql_format(
                                DEFAULT_RESOLUTION[severity]),
                            cls.return_visit_time.sql_format(
                                DEFAULT_RETURN_VISIT),
                            STRATEGIC_PRIORITY, 0, CurrentTimestamp()])
            if rows:
                cursor.execute(*table.insert([
                            table.company, table.severity, table.tier,
                            table.response_time, table.handling_time,
                            table.resolution_time, table.return_visit_time,
                            table.priority,
                            table.create_uid, table.create_date], rows))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_response_time(cls):
        return DEFAULT_RESPONSE

    @classmethod
    def default_handling_time(cls):
        return DEFAULT_HANDLING

    @classmethod
    def default_return_visit_time(cls):
        return DEFAULT_RETURN_VISIT

    @classmethod
    def default_priority(cls):
        return DEFAULT_PRIORITY

    def get_rec_name(self, name):
        return ' / '.join(filter(None, [
                    self.severity_string,
                    self.tier.rec_name if self.tier else None]))

    @classmethod
    def validate_fields(cls, limits, field_names):
        super().validate_fields(limits, field_names)
        for limit in limits:
            limit.check_durations()
        if field_names & {'company', 'severity', 'tier'}:
            cls.check_unique(limits)

    def check_durations(self):
        for name in [
                'response_time', 'handling_time', 'resolution_time',
                'return_visit_time']:
            value = getattr(self, name)
            if value is not None and value < dt.timedelta(0):
                raise ComplaintTimeLimitError(gettext(
                        'crm_module.msg_complaint_time_limit_negative',
                        field=self.__names__(name)['field'],
                        limit=self.rec_name))

    @classmethod
    def check_unique(cls, limits):
        for limit in limits:
            twins = cls.search([
                    ('id', '!=', limit.id),
                    ('company', '=', limit.company.id),
                    ('severity', '=', limit.severity),
                    ('tier', '=', limit.tier.id if limit.tier else None),
                    ], limit=1)
            if twins:
                raise ComplaintTimeLimitError(gettext(
                        'crm_module.msg_complaint_time_limit_unique',
                        limit=limit.rec_name))

    @classmethod
    def get_limit(cls, company, severity, tier):
        """Return the limit of severity for a customer of tier: the row of
        the tier, else the row for every tier, else the shipped default"""
        limits = cls.search([
                ('company', '=', company.id),
                ('severity', '=', severity),
                ('tier', 'in', [tier.id if tier else None, None]),
                ])
        limits.sort(key=lambda t: t.tier is None)
        if limits:
            limit = limits[0]
            return Limit(
                limit.response_time, limit.handling_time,
                limit.resolution_time, limit.return_visit_time,
                limit.priority)
        return Limit(
            DEFAULT_RESPONSE, DEFAULT_HANDLING, DEFAULT_RESOLUTION[severity],
            DEFAULT_RETURN_VISIT, DEFAULT_PRIORITY)

    @classmethod
    def shipped_rows(cls, company, strategic_tier=None):
        """Return the values of the shipped time limit matrix of company:
        the rows of its strategic and key tiers first, then the rows for
        every other tier"""
        Tier = Pool().get('crm.tier')
        first = Tier.search([
                ('company', '=', company.id),
                ('code', 'in', FIRST_TIERS),
                ], order=[('code', 'DESC')])
        if strategic_tier and strategic_tier not in first:
            first.insert(0, strategic_tier)
        rows = []
        tiers = [(t.id, STRATEGIC_PRIORITY) for t in first]
        tiers.append((None, DEFAULT_PRIORITY))
        for tier, priority in tiers:
            for severity, _ in SEVERITIES:
                rows.append({
                        'company': company.id,
                        'severity': severity,
                        'tier': tier,
                        'response_time': DEFAULT_RESPONSE,
                        'handling_time': DEFAULT_HANDLING,
                        'resolution_time': DEFAULT_RESOLUTION[severity],
                        'return_visit_time': DEFAULT_RETURN_VISIT,
                        'priority': priority,
                        })
        return rows


class Complaint(WorkflowGuardMixin, Workflow, ModelSQL, ModelView):
    "Customer complaint ticket"
    __name__ = 'crm.complaint'
    __string__ = "Customer Complaint"
    _rec_name = 'number'

    # The fields' readonly states come from _state_fields below.
    _return_visit = {
        'required': Eval('state') == 'closed',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True)
    number = fields.Char("Number", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", required=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    contact = fields.Char(
        "Contact Person",
        help="Who complained on behalf of the customer.")
    channel = fields.Selection(
        CHANNELS, "Channel", required=True)
    category = fields.Selection(CATEGORIES, "Category", required=True)
    category_string = category.translated('category')
    severity = fields.Selection(SEVERITIES, "Severity", required=True)
    severity_string = severity.translated('severity')
    description = fields.Text("Description", required=True)
    received_at = fields.DateTime("Received At", required=True)
    received_by = fields.Many2One(
        'company.employee', "Received By",
        domain=[('company', '=', Eval('company', -1))])
    receiving_department = fields.Many2One(
        'crm.department', "Receiving Department",
        domain=[('company', '=', Eval('company', -1))],
        help="Receives the complaint and calls the customer back.")
    supervising_department = fields.Many2One(
        'crm.department', "Supervising Department",
        domain=[('company', '=', Eval('company', -1))],
        help="Is informed of the complaint; its manager receives the "
        "escalations.")
    responsible_department = fields.Many2One(
        'crm.department', "Responsible Department",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'required': Eval('state').in_(
                ['investigating', 'awaiting_approval', 'resolving']),
            })
    responsible_employee = fields.Many2One(
        'company.employee', "Responsible Employee",
        domain=[('company', '=', Eval('company', -1))])
    tier = fields.Many2One(
        'crm.tier', "Customer Tier", readonly=True, ondelete='RESTRICT',
        help="The customer's tier when the complaint was received.")
    priority = fields.Integer(
        "Priority", readonly=True,
        help="From the time limits: complaints with a lower number are "
        "handled first.")
    response_deadline = fields.DateTime("Response Deadline", readonly=True)
    handling_deadline = fields.DateTime(
        "Handling Deadline", readonly=True,
        help="When the handling must have started: investigating with a "
        "responsible department.")
    resolution_deadline = fields.DateTime(
        "Resolution Deadline", readonly=True)
    return_visit_deadline = fields.DateTime(
        "Return Visit Deadline", readonly=True,
        help="When the receiving department must have called the customer "
        "back, counted from the resolution.")
    response_due = fields.Function(
        fields.Char(
            "Response Due",
            help="The response deadline to the minute, in the company's "
            "time zone."),
        'get_due')
    handling_due = fields.Function(
        fields.Char(
            "Handling Due",
            help="The handling deadline to the minute, in the company's "
            "time zone."),
        'get_due')
    resolution_due = fields.Function(
        fields.Char(
            "Resolution Due",
            help="The resolution deadline to the minute, in the company's "
            "time zone."),
        'get_due')
    return_visit_due = fields.Function(
        fields.Char(
            "Return Visit Due",
            help="The return visit deadline to the minute, in the "
            "company's time zone."),
        'get_due')
    responded_at = fields.DateTime("Responded At", readonly=True)
    handling_started_at = fields.DateTime(
        "Handling Started At", readonly=True)
    resolved_at = fields.DateTime("Resolved At", readonly=True)
    return_visited_at = fields.DateTime(
        "Called Back At", readonly=True,
        help="When the customer's answer to the return visit was "
        "recorded.")
    closed_at = fields.DateTime("Closed At", readonly=True)
    response_hours = fields.Numeric(
        "Response Hours", digits=(16, 2), readonly=True)
    handling_hours = fields.Numeric(
        "Handling Hours", digits=(16, 2), readonly=True)
    resolution_hours = fields.Numeric(
        "Resolution Hours", digits=(16, 2), readonly=True)
    return_visit_hours = fields.Numeric(
        "Return Visit Hours", digits=(16, 2), readonly=True,
        help="Hours from the resolution to the return visit.")
    response_status = fields.Selection(
        LIMIT_STATUSES, "Response Status", readonly=True)
    handling_status = fields.Selection(
        LIMIT_STATUSES, "Handling Status", readonly=True)
    resolution_status = fields.Selection(
        LIMIT_STATUSES, "Resolution Status", readonly=True)
    return_visit_status = fields.Selection(
        [(None, ""), *LIMIT_STATUSES], "Return Visit Status", readonly=True,
        help="Empty until the complaint is resolved.")
    at_risk = fields.Function(
        fields.Boolean(
            "At Risk",
            help="A pending deadline falls within the configured hours."),
        'get_at_risk', searcher='search_at_risk')
    read_by = fields.Many2One(
        'res.user', "Read By", readonly=True,
        help="The supervising leader who read the complaint.")
    read_at = fields.DateTime("Read At", readonly=True)
    read_note = fields.Text(
        "Leader's Note",
        help="The supervising leader's note when reading the complaint.")
    cause_analysis = fields.Text(
        "Cause Analysis",
        help="Written by the responsible department.")
    measures = fields.Text(
        "Handling Measures",
        help="Proposed by the responsible department and approved by a "
        "manager.")
    handled_first = fields.Boolean(
        "Handled First", readonly=True,
        help="Resolving started before the measures were approved.")
    review_note = fields.Text(
        "Review Note",
        help="The manager's comment when sending the measures back.")
    approved_by = fields.Many2One('res.user', "Approved By", readonly=True)
    approved_at = fields.DateTime("Approved At", readonly=True)
    actions = fields.One2Many(
        'crm.complaint.action', 'complaint', "Actions",
        help="What was done for the customer: replacement, refund, repair, "
        "apology, compensation, with its cost.")
    action_amount = fields.Function(
        fields.Numeric(
            "Actions Amount", digits=(16, 2),
            help="The cost of the actions, in the company's currency."),
        'get_action_amount')
    actions_taken = fields.Text(
        "Actions Note",
        help="Anything else to know about the actions taken.")
    preventive_required = fields.Function(
        fields.Boolean(
            "Preventive Measures Required",
            help="A quality complaint of a customer of the configured "
            "tiers: it closes only once each preventive measure is "
            "verified."),
        'get_preventive_required')
    preventive_measures = fields.One2Many(
        'crm.complaint.preventive', 'complaint', "Preventive Measures",
        help="What prevents the problem from happening again, who does it "
        "by when, and its verification.")
    agreed_at = fields.DateTime(
        "Agreed At",
        help="When the customer agreed to the handling.")
    agreed_with = fields.Char(
        "Agreed With",
        help="The customer's person who agreed to the handling.")
    return_visit_date = fields.Date(
        "Return Visit Date", states=_return_visit)
    return_visit_by = fields.Many2One(
        'company.employee', "Return Visit By",
        domain=[
            ('company', '=', Eval('company', -1)),
            ('crm_department', '=', Eval('receiving_department', -1)),
            ],
        help="An employee of the receiving department who called the "
        "customer back.")
    return_visit_result = fields.Text(
        "Customer's Answer", states=_return_visit)
    satisfaction = fields.Integer(
        "Satisfaction", states=_return_visit,
        help="The customer's overall satisfaction from 1 (very poor) to 5 "
        "(very good). Below the target of the customer's tier the "
        "complaint goes back to resolving.")
    satisfaction_target = fields.Function(
        fields.Integer(
            "Satisfaction Target",
            help="The lowest satisfaction that closes the complaint: the "
            "target of the customer's tier."),
        'get_satisfaction_target')
    return_visit_product_quality = fields.Integer(
        "Product Quality",
        help="The customer's score from 1 (very poor) to 5 (very good).")
    return_visit_service = fields.Integer(
        "Service",
        help="The customer's score from 1 (very poor) to 5 (very good).")
    return_visit_delivery = fields.Integer(
        "Delivery",
        help="The customer's score from 1 (very poor) to 5 (very good).")
    return_visit_price = fields.Integer(
        "Price",
        help="The customer's score from 1 (very poor) to 5 (very good).")
    cancel_reason = fields.Text(
        "Cancel Reason",
        help="Why the complaint is cancelled (duplicate, invalid...).")
    reopen_reason = fields.Text(
        "Reopen Reason",
        states={
            'invisible': Eval('state').in_(OPEN_STATES),
            },
        help="Needed to reopen a cancelled complaint.")
    is_repeat = fields.Boolean(
        "Repeat Complaint", readonly=True,
        help="The customer complained in the same category within the "
        "configured days before.")
    logs = fields.One2Many(
        'crm.complaint.log', 'complaint', "State Changes", readonly=True)
    escalations = fields.One2Many(
        'crm.complaint.escalation', 'complaint', "Escalations",
        readonly=True)
    state = fields.Selection(STATES, "State", readonly=True, sort=False)
    state_string = state.translated('state')

    # Fields only the workflow and the server may write.
    _workflow_field_message = 'crm_module.msg_complaint_workflow_field'
    _workflow_fields = {
        'state', 'number', 'tier', 'priority', 'response_deadline',
        'handling_deadline', 'resolution_deadline', 'return_visit_deadline',
        'responded_at', 'handling_started_at', 'resolved_at',
        'return_visited_at', 'closed_at', 'response_hours',
        'handling_hours', 'resolution_hours', 'return_visit_hours',
        'response_status', 'handling_status', 'resolution_status',
        'return_visit_status', 'handled_first', 'is_repeat',
        *stamp_fields('approved', 'read')}
    # The fields a user may change, by group.
    _intake_fields = {
        'company', 'party', 'channel', 'description', 'received_at',
        'received_by'}
    _analysis_fields = {'category', 'severity', 'cause_analysis', 'measures'}
    _assignment_fields = {'responsible_department', 'responsible_employee'}
    _return_visit_fields = {
        'return_visit_date', 'return_visit_by', 'return_visit_result',
        'satisfaction', 'return_visit_product_quality',
        'return_visit_service', 'return_visit_delivery', 'return_visit_price'}
    _agreement_fields = {'agreed_at', 'agreed_with'}
    _action_fields = {'actions', 'actions_taken'}
    _open_fields = {
        'contact', 'receiving_department', 'supervising_department',
        'cancel_reason', 'read_note'}
    # The fields a user may change in each state: their readonly states and
    # check_locked come from this table.
    _state_fields = {
        'received': (
            _open_fields | _intake_fields | _analysis_fields
            | _assignment_fields),
        'acknowledged': _open_fields | _analysis_fields | _assignment_fields,
        'investigating': (
            _open_fields | _analysis_fields | _assignment_fields
            | {'preventive_measures'}),
        'awaiting_approval': (
            _open_fields | {'review_note', 'preventive_measures'}),
        'resolving': (
            _open_fields | _action_fields | _agreement_fields
            | {'preventive_measures'}),
        'return_visit': (
            _open_fields | _action_fields | _agreement_fields
            | _return_visit_fields | {'preventive_measures'}),
        'closed': {'reopen_reason'},
        'cancelled': {'reopen_reason'},
        }
    _state_fields_when = [
        ('resolving', HANDLED_FIRST_UNAPPROVED, _analysis_fields),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # The leader's note is kept as written once the complaint is read.
        cls.read_note.states = {
            **cls.read_note.states,
            'readonly': (cls.read_note.states.get('readonly', False)
                | Bool(Eval('read_at'))),
            }
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(OPEN_STATES)),
                Index(t, (t.party, Index.Equality()),
                    (t.category, Index.Equality()),
                    (t.received_at, Index.Range())),
                Index(t, (t.number, Index.Similarity())),
                })
        cls._order = [
            ('priority', 'ASC NULLS LAST'),
            ('resolution_deadline', 'ASC NULLS LAST'),
            ('id', 'DESC')]
        cls._transitions |= {
            ('received', 'acknowledged'),
            ('acknowledged', 'investigating'),
            ('investigating', 'awaiting_approval'),
            ('resolving', 'awaiting_approval'),
            ('awaiting_approval', 'resolving'),
            ('awaiting_approval', 'investigating'),
            ('investigating', 'resolving'),
            ('resolving', 'return_visit'),
            ('return_visit', 'closed'),
            ('return_visit', 'resolving'),
            }
        cls._transitions |= {(s, 'cancelled') for s in OPEN_STATES}
        # A button is shown in the states of its transition (workflow.py);
        # 'invisible' gives its other conditions.
        cls._buttons.update({
                'acknowledge': {
                    'icon': 'tryton-forward',
                    },
                'investigate': {
                    'icon': 'tryton-forward',
                    },
                'submit': {
                    'invisible': ((Eval('state') == 'resolving')
                        & ~HANDLED_FIRST_UNAPPROVED),
                    'icon': 'tryton-forward',
                    'depends': ['handled_first', 'approved_at'],
                    },
                'handle_first': {
                    'invisible': ((Eval('severity') != 'general')
                        | (Eval('category') != 'quality')),
                    'icon': 'tryton-launch',
                    'depends': ['severity', 'category'],
                    },
                'mark_read': {
                    'invisible': Bool(Eval('read_at')),
                    'icon': 'tryton-ok',
                    'depends': ['read_at'],
                    },
                'approve': {
                    'icon': 'tryton-ok',
                    },
                'send_back': {
                    'icon': 'tryton-back',
                    },
                'resolve': {
                    'icon': 'tryton-forward',
                    },
                'close': {
                    'icon': 'tryton-ok',
                    },
                'not_satisfied': {
                    'invisible': Eval('state') != 'return_visit',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'cancel': {
                    'icon': 'tryton-cancel',
                    },
                'reopen': {
                    'icon': 'tryton-undo',
                    },
                })

    @classmethod
    def __register__(cls, module):
        # Releases before 4/7 knew no handling time limit.
        upgraded = column_added(cls, module, 'handling_status')
        super().__register__(module)
        if upgraded:
            cls._migrate_handling()

    @classmethod
    def _migrate_handling(cls):
        """Give the complaints whose handling has not started the shipped
        handling deadline; the others started it unmeasured"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.handling_status], [None],
                where=~table.state.in_(LIMIT_STATES['handling'])))
        cursor.execute(*table.select(table.id, table.received_at,
                where=table.state.in_(LIMIT_STATES['handling'])))
        for id_, received_at in cursor.fetchall():
            if isinstance(received_at, str):
                received_at = dt.datetime.fromisoformat(received_at)
            cursor.execute(*table.update(
                    [table.handling_status, table.handling_deadline],
                    ['pending', received_at + DEFAULT_HANDLING],
                    where=table.id == id_))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @staticmethod
    def default_state():
        return 'received'

    @classmethod
    def default_channel(cls):
        return 'phone'

    @classmethod
    def default_severity(cls):
        return 'general'

    @classmethod
    def default_received_at(cls):
        return now().replace(microsecond=0)

    @classmethod
    def default_received_by(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_handled_first(cls):
        return False

    @classmethod
    def default_is_repeat(cls):
        return False

    @classmethod
    def default_response_status(cls):
        return 'pending'

    @classmethod
    def default_handling_status(cls):
        return 'pending'

    @classmethod
    def default_resolution_status(cls):
        return 'pending'

    @classmethod
    def _config_value(cls, name, company=None):
        Configuration = Pool().get('crm.configuration')
        if company is None:
            company = Transaction().context.get('company')
        return Configuration(1).get_multivalue(name, company=company)

    @classmethod
    def default_receiving_department(cls):
        department = cls._config_value('complaint_receiving_department')
        return department.id if department else None

    @classmethod
    def default_supervising_department(cls):
        department = cls._config_value('complaint_supervising_department')
        return department.id if department else None

    def get_rec_name(self, name):
        if self.party:
            return '%s - %s' % (self.number or '', self.party.rec_name)
        return self.number or ''

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('number', operator, operand, *extra),
            ('party.rec_name', operator, operand, *extra),
            ]

    # Time limits

    def _get_time_limit(self):
        TimeLimit = Pool().get('crm.complaint.time_limit')
        return TimeLimit.get_limit(
            self.company, self.severity, self.party.crm_tier)

    def _get_deadlines(self):
        "Return the values of the deadlines computed from the time limits"
        limit = self._get_time_limit()
        values = {
            'tier': self.party.crm_tier.id if self.party.crm_tier else None,
            'priority': limit.priority,
            'response_deadline': self.received_at + limit.response_time,
            'handling_deadline': self.received_at + limit.handling_time,
            'resolution_deadline': self.received_at + limit.resolution_time,
            }
        for kind in RECEIPT_LIMITS:
            if getattr(self, '%s_status' % kind) != 'pending':
                del values['%s_deadline' % kind]
        return values

    @classmethod
    def set_deadlines(cls, complaints):
        with without_check_access(), workflow():
            for complaint in complaints:
                if complaint.state in OPEN_STATES:
                    cls.write([complaint], complaint._get_deadlines())

    def get_due(self, name):
        "A deadline as a list shows it: one column, to the minute"
        deadline = getattr(self, name[:-len('due')] + 'deadline')
        if deadline:
            return company_time(self.company, deadline).strftime(
                '%Y-%m-%d %H:%M')

    @classmethod
    def order_response_due(cls, tables):
        table, _ = tables[None]
        return [table.response_deadline]

    @classmethod
    def order_handling_due(cls, tables):
        table, _ = tables[None]
        return [table.handling_deadline]

    @classmethod
    def order_resolution_due(cls, tables):
        table, _ = tables[None]
        return [table.resolution_deadline]

    @classmethod
    def order_return_visit_due(cls, tables):
        table, _ = tables[None]
        return [table.return_visit_deadline]

    @classmethod
    def get_action_amount(cls, complaints, name):
        amounts = {c.id: Decimal(0) for c in complaints}
        for complaint in complaints:
            for action in complaint.actions:
                amounts[complaint.id] += action.amount or Decimal(0)
        return amounts

    def get_preventive_required(self, name):
        "Quality problems of the configured tiers' customers [S2-107]"
        if self.category != 'quality' or not self.company:
            return False
        tiers = self._config_value(
            'complaint_preventive_tiers', self.company.id) or []
        tier = self.tier or (self.party.crm_tier if self.party else None)
        return bool(tier and tier.code in tiers)

    def get_satisfaction_target(self, name=None):
        tier = self.tier or (self.party.crm_tier if self.party else None)
        if tier and tier.satisfaction_target:
            return tier.satisfaction_target
        return DEFAULT_SATISFACTION_TARGET

    def get_at_risk(self, name):
        return self.id in self._at_risk_ids([self.id])

    @classmethod
    def _at_risk_domain(cls):
        start = now()
        hours = cls._config_value('complaint_risk_hours') or 0
        end = start + dt.timedelta(hours=hours)
        return ['OR'] + [[
                ('state', 'in', states),
                ('%s_status' % kind, '=', 'pending'),
                ('%s_deadline' % kind, '>=', start),
                ('%s_deadline' % kind, '<=', end),
                ] for kind, states in LIMIT_STATES.items()]

    @classmethod
    def _at_risk_ids(cls, ids=None):
        domain = cls._at_risk_domain()
        if ids is not None:
            domain = [('id', 'in', ids), domain]
        return {c.id for c in cls.search(domain)}

    @classmethod
    def search_at_risk(cls, name, clause):
        _, operator, value = clause[:3]
        if operator not in {'=', '!='}:
            return []
        if (operator == '=') == bool(value):
            return cls._at_risk_domain()
        return [('id', 'not in', list(cls._at_risk_ids()))]

    # Repeat complaints

    @classmethod
    def update_repeats(cls, parties):
        """Mark each complaint of the parties that follows another of the
        same customer and category within the configured days"""
        complaints = cls.search([
                ('party', 'in', [p.id for p in parties]),
                ], order=[('received_at', 'ASC'), ('id', 'ASC')])
        last = {}
        to_write = {True: [], False: []}
        for complaint in complaints:
            if complaint.state == 'cancelled':
                repeat = False
            else:
                days = cls._config_value(
                    'complaint_repeat_days', complaint.company.id) or 0
                key = (complaint.company.id, complaint.party.id,
                    complaint.category)
                previous = last.get(key)
                repeat = bool(previous is not None
                    and complaint.received_at - previous
                    <= dt.timedelta(days=days))
                last[key] = complaint.received_at
            if bool(complaint.is_repeat) != repeat:
                to_write[repeat].append(complaint)
        with without_check_access(), workflow():
            for repeat, records in to_write.items():
                if records:
                    cls.write(records, {'is_repeat': repeat})

    # Storage rules

    @classmethod
    def validate_fields(cls, complaints, field_names):
        super().validate_fields(complaints, field_names)
        if field_names & cls._score_fields:
            for complaint in complaints:
                complaint.check_satisfaction()
        if 'received_at' in field_names:
            for complaint in complaints:
                complaint.check_received_at()
        if field_names & {'agreed_at', 'return_visit_date'}:
            for complaint in complaints:
                complaint.check_return_visit_dates()

    _score_fields = {
        'satisfaction', 'return_visit_product_quality',
        'return_visit_service', 'return_visit_delivery', 'return_visit_price'}

    def check_satisfaction(self):
        check_scores(self, sorted(self._score_fields))

    def check_received_at(self):
        if self.received_at and self.received_at > now():
            raise ComplaintLockedError(gettext(
                    'crm_module.msg_complaint_received_future',
                    complaint=self.rec_name))

    def check_return_visit_dates(self):
        moment = now()
        today = company_time(self.company, moment).date()
        for name, future in [
                ('agreed_at', self.agreed_at and self.agreed_at > moment),
                ('return_visit_date', self.return_visit_date
                    and self.return_visit_date > today)]:
            if future:
                raise ComplaintCloseError(gettext(
                        'crm_module.msg_complaint_date_future',
                        complaint=self.rec_name,
                        field=self.__names__(name)['field']))

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Log = pool.get('crm.complaint.log')
        complaints = super().create(vlist)
        # Numbered once valid: a database sequence does not roll back.
        with workflow():
            for complaint in complaints:
                if not complaint.number:
                    cls.write([complaint], {
                            'number': cls._new_number(complaint.company.id),
                            })
        cls.set_deadlines(complaints)
        cls.update_repeats({c.party for c in complaints})
        Log.record(complaints, None, 'received')
        cls.notify_intake(complaints)
        return complaints

    @classmethod
    def _new_number(cls, company_id):
        sequence = cls._config_value(
            'complaint_sequence',
            company_id or Transaction().context.get('company'))
        with without_check_access():
            return sequence.get()

    @classmethod
    def write(cls, *args):
        pool = Pool()
        Log = pool.get('crm.complaint.log')
        actions = iter(args)
        transitions = []
        for complaints, values in zip(actions, actions, strict=False):
            if 'read_note' in values and not in_workflow():
                for complaint in complaints:
                    if (complaint.read_at
                            and complaint.read_note != values['read_note']):
                        raise ComplaintReadError(gettext(
                                'crm_module.msg_complaint_read_note_locked',
                                complaint=complaint.rec_name))
            if 'state' in values:
                for complaint in complaints:
                    if complaint.state != values['state']:
                        transitions.append(
                            (complaint, complaint.state, values['state']))
        super().write(*args)
        for complaint, from_state, to_state in transitions:
            Log.record([complaint], from_state, to_state)
        changed = cls.browse([c for cs in args[::2] for c in cs])
        if any({'severity', 'party', 'received_at', 'company'} & set(v)
                for v in args[1::2]):
            cls.set_deadlines(changed)
        if any({'party', 'category', 'received_at', 'state'} & set(v)
                for v in args[1::2]):
            cls.update_repeats({c.party for c in changed})

    @classmethod
    def _raise_locked(cls, complaint, fields_):
        names = ', '.join(sorted(
                cls.__names__(f)['field'] for f in fields_))
        if complaint.state not in OPEN_STATES:
            raise ComplaintLockedError(gettext(
                    'crm_module.msg_complaint_closed_locked',
                    complaint=complaint.rec_name,
                    state=complaint.state_string,
                    fields=names))
        raise ComplaintLockedError(gettext(
                'crm_module.msg_complaint_state_locked',
                complaint=complaint.rec_name,
                state=complaint.state_string,
                fields=names))

    @classmethod
    def copy(cls, complaints, default=None):
        default = default.copy() if default is not None else {}
        # a copy starts again at receipt, its limits pending
        default.setdefault('state', 'received')
        default.setdefault('handled_first', False)
        default.setdefault('is_repeat', False)
        default.setdefault('response_status', 'pending')
        default.setdefault('handling_status', 'pending')
        default.setdefault('resolution_status', 'pending')
        for name in (cls._workflow_fields | cls._return_visit_fields
                | cls._agreement_fields | cls._action_fields | {
                    'cause_analysis', 'measures', 'review_note',
                    'preventive_measures', 'cancel_reason', 'reopen_reason',
                    'responsible_department', 'responsible_employee'}):
            default.setdefault(name, None)
        default.setdefault('read_note', None)
        default.setdefault('received_at', cls.default_received_at())
        default.setdefault('logs', None)
        default.setdefault('escalations', None)
        return super().copy(complaints, default=default)

    @classmethod
    def delete(cls, complaints):
        if complaints:
            raise ComplaintDeleteError(gettext(
                    'crm_module.msg_complaint_delete',
                    complaint=complaints[0].rec_name))
        super().delete(complaints)

    # Workflow

    @classmethod
    def _meet_limit(cls, complaints, kind, done_field, moment):
        """Record that the time limit of kind is met or breached at moment
        and escalate at once the breaches no scheduled action has seen"""
        late = []
        for complaint in complaints:
            values = {done_field: moment}
            if getattr(complaint, '%s_status' % kind) == 'pending':
                deadline = getattr(complaint, '%s_deadline' % kind)
                status = ('met' if deadline is None or moment <= deadline
                    else 'breached')
                if status == 'breached':
                    late.append(complaint)
                values['%s_status' % kind] = status
            # The first action measures the limit, also one the scheduled
            # action found breached; a complaint that the customer sent
            # back keeps the figures of its first resolution.
            if getattr(complaint, '%s_hours' % kind) is None:
                start = (complaint.received_at if kind in RECEIPT_LIMITS
                    else complaint.resolved_at)
                values['%s_hours' % kind] = (
                    _hours(start, moment) if start else None)
            cls.write([complaint], values)
        if late:
            cls._escalate(cls.browse([c.id for c in late]), kind, moment)

    @classmethod
    @ModelView.button
    @guarded_transition('acknowledged')
    def acknowledge(cls, complaints):
        cls._meet_limit(complaints, 'response', 'responded_at', now())

    @classmethod
    @ModelView.button
    @guarded_transition('investigating', from_='acknowledged')
    def investigate(cls, complaints):
        for complaint in complaints:
            if not complaint.responsible_department:
                raise ComplaintApprovalError(gettext(
                        'crm_module.msg_complaint_responsible',
                        complaint=complaint.rec_name))
        cls._meet_limit(
            complaints, 'handling', 'handling_started_at', now())

    def check_analysis(self):
        if not ((self.cause_analysis or '').strip()
                and (self.measures or '').strip()):
            raise ComplaintApprovalError(gettext(
                    'crm_module.msg_complaint_analysis_required',
                    complaint=self.rec_name))

    @classmethod
    @ModelView.button
    @guarded_transition('awaiting_approval')
    def submit(cls, complaints):
        for complaint in complaints:
            if complaint.state == 'resolving' and (
                    not complaint.handled_first or complaint.approved_at):
                raise ComplaintApprovalError(gettext(
                        'crm_module.msg_complaint_submit_resolving',
                        complaint=complaint.rec_name))
            complaint.check_analysis()
        cls.write(complaints, {'review_note': None})

    @classmethod
    @ModelView.button
    @guarded_transition('resolving', from_='investigating')
    def handle_first(cls, complaints):
        for complaint in complaints:
            complaint.check_handle_first()
        cls.write(complaints, {'handled_first': True})

    def check_handle_first(self):
        """Handle first, settle responsibility after: only non-major
        quality problems of the configured tiers' customers [S2-110]"""
        if self.severity != 'general':
            raise ComplaintApprovalError(gettext(
                    'crm_module.msg_complaint_handle_first_severity',
                    complaint=self.rec_name,
                    severity=self.severity_string))
        if self.category != 'quality':
            raise ComplaintApprovalError(gettext(
                    'crm_module.msg_complaint_handle_first_category',
                    complaint=self.rec_name,
                    category=self.category_string))
        tiers = self._config_value(
            'complaint_handle_first_tiers', self.company.id) or []
        if not self.tier or self.tier.code not in tiers:
            raise ComplaintApprovalError(gettext(
                    'crm_module.msg_complaint_handle_first_tier',
                    complaint=self.rec_name,
                    tier=self.tier.rec_name if self.tier else '-'))

    @classmethod
    @ModelView.button
    @guarded_transition('resolving', from_='awaiting_approval')
    def approve(cls, complaints):
        for complaint in complaints:
            complaint.check_analysis()
        cls.write(complaints, stamp('approved', now()))

    @classmethod
    @ModelView.button
    @guarded_transition('investigating', from_='awaiting_approval')
    def send_back(cls, complaints):
        pass

    @classmethod
    @ModelView.button
    @guarded_transition('return_visit')
    def resolve(cls, complaints):
        moment = now()
        for complaint in complaints:
            if not complaint.approved_at:
                raise ComplaintResolveError(gettext(
                        'crm_module.msg_complaint_resolve_approval',
                        complaint=complaint.rec_name))
            if not complaint.actions:
                raise ComplaintResolveError(gettext(
                        'crm_module.msg_complaint_resolve_actions',
                        complaint=complaint.rec_name))
        cls._meet_limit(complaints, 'resolution', 'resolved_at', moment)
        # the receiving department calls the customer back at once [S0-39]
        for complaint in complaints:
            limit = complaint._get_time_limit()
            cls.write([complaint], {
                    'return_visit_deadline': (
                        moment + limit.return_visit_time),
                    'return_visit_status': 'pending',
                    'return_visited_at': None,
                    'return_visit_hours': None,
                    })

    def check_return_visit(self):
        "The customer's answer to the return visit, by the right caller"
        if not (self.return_visit_date
                and (self.return_visit_result or '').strip()
                and self.satisfaction):
            raise ComplaintCloseError(gettext(
                    'crm_module.msg_complaint_close_return_visit',
                    complaint=self.rec_name))
        self.check_satisfaction()
        self.check_return_visit_by()

    def check_return_visit_by(self):
        "The receiving department calls the customer back [S0-39]"
        department = self.receiving_department
        caller = self.return_visit_by
        if not caller:
            raise ComplaintCloseError(gettext(
                    'crm_module.msg_complaint_return_visit_by',
                    complaint=self.rec_name))
        # the domain checks it too, but the employee may have moved since
        if not department or caller.crm_department != department:
            raise ComplaintCloseError(gettext(
                    'crm_module.msg_complaint_return_visit_department',
                    complaint=self.rec_name,
                    employee=caller.rec_name,
                    department=department.rec_name if department else '-'))

    def check_preventive_measures(self):
        "Each preventive measure verified before closing [S2-107]"
        if not self.preventive_required:
            return
        if not self.preventive_measures:
            raise ComplaintCloseError(gettext(
                    'crm_module.msg_complaint_close_preventive_missing',
                    complaint=self.rec_name))
        for measure in self.preventive_measures:
            if not measure.verified:
                raise ComplaintCloseError(gettext(
                        'crm_module.msg_complaint_close_preventive',
                        complaint=self.rec_name,
                        measure=measure.rec_name))

    @classmethod
    @ModelView.button
    @guarded_transition('closed')
    def close(cls, complaints):
        pool = Pool()
        Survey = pool.get('crm.satisfaction')
        moment = now()
        for complaint in complaints:
            complaint.check_return_visit()
            if not (complaint.agreed_at
                    and (complaint.agreed_with or '').strip()):
                raise ComplaintCloseError(gettext(
                        'crm_module.msg_complaint_close_agreement',
                        complaint=complaint.rec_name))
            target = complaint.get_satisfaction_target()
            if complaint.satisfaction < target:
                raise ComplaintCloseError(gettext(
                        'crm_module.msg_complaint_close_dissatisfied',
                        complaint=complaint.rec_name,
                        satisfaction=complaint.satisfaction,
                        target=target))
            complaint.check_preventive_measures()
        cls._meet_limit(
            complaints, 'return_visit', 'return_visited_at', moment)
        cls.write(complaints, {'closed_at': moment})
        with workflow():
            Survey.create([c._get_return_visit_survey() for c in complaints])

    @classmethod
    @ModelView.button
    @requires_state('return_visit')
    def not_satisfied(cls, complaints):
        """Send the complaints whose customer is not satisfied back to
        resolving with the customer's words, and tell the account manager
        and the supervising manager: satisfaction is ensured [S1-06]"""
        moment = now()
        for complaint in complaints:
            complaint.check_return_visit()
            target = complaint.get_satisfaction_target()
            if complaint.satisfaction >= target:
                raise ComplaintCloseError(gettext(
                        'crm_module.msg_complaint_not_satisfied_target',
                        complaint=complaint.rec_name,
                        satisfaction=complaint.satisfaction,
                        target=target))
        cls._meet_limit(
            complaints, 'return_visit', 'return_visited_at', moment)
        # the state change records the customer's words (ComplaintLog)
        cls.write(complaints, {'state': 'resolving'})
        cls.notify_dissatisfied(complaints)
        values = dict.fromkeys(cls._return_visit_fields)
        values.update(dict.fromkeys(cls._agreement_fields))
        cls.write(complaints, values)

    @classmethod
    def notify_dissatisfied(cls, complaints):
        "Notify the account manager and the supervising manager"
        for complaint in complaints:
            supervising = complaint.supervising_department
            employees = {e for e in [
                    complaint.party.crm_account_manager,
                    supervising.manager if supervising else None] if e}
            notify_employees(
                employees, complaint, complaint, '_get_dissatisfied_message')

    def _get_dissatisfied_message(self):
        label = gettext('crm_module.msg_complaint_dissatisfied_label',
            complaint=self.rec_name,
            satisfaction=self.satisfaction,
            target=self.get_satisfaction_target())
        return label, self.return_visit_result

    def _get_return_visit_survey(self):
        return {
            'company': self.company.id,
            'party': self.party.id,
            'date': self.return_visit_date,
            'kind': 'return_visit',
            'complaint': self.id,
            'overall': self.satisfaction,
            'product_quality': self.return_visit_product_quality,
            'service': self.return_visit_service,
            'delivery': self.return_visit_delivery,
            'price': self.return_visit_price,
            'surveyed_by': (
                self.return_visit_by.id if self.return_visit_by else None),
            'note': self.return_visit_result,
            }

    @classmethod
    @ModelView.button
    @guarded_transition('cancelled')
    def cancel(cls, complaints):
        for complaint in complaints:
            if not (complaint.cancel_reason or '').strip():
                raise ComplaintCancelError(gettext(
                        'crm_module.msg_complaint_cancel_reason',
                        complaint=complaint.rec_name))

    @classmethod
    @ModelView.button
    @requires_state('closed', 'cancelled')
    def reopen(cls, complaints):
        """Send a closed complaint back to investigation with a new
        resolution deadline, and a cancelled one back to the state it was
        cancelled in"""
        pool = Pool()
        Log = pool.get('crm.complaint.log')
        moment = now()
        to_write = []
        for complaint in complaints:
            if (complaint.state == 'cancelled'
                    and not (complaint.reopen_reason or '').strip()):
                raise ComplaintReopenError(gettext(
                        'crm_module.msg_complaint_reopen_reason',
                        complaint=complaint.rec_name))
            if complaint.state == 'closed':
                limit = complaint._get_time_limit()
                values = {
                    'state': 'investigating',
                    'resolution_deadline': moment + limit.resolution_time,
                    'resolution_status': 'pending',
                    'resolved_at': None,
                    'resolution_hours': None,
                    'return_visit_deadline': None,
                    'return_visit_status': None,
                    'return_visited_at': None,
                    'return_visit_hours': None,
                    'closed_at': None,
                    'handled_first': False,
                    **unstamp('approved'),
                    }
                values.update(dict.fromkeys(cls._return_visit_fields))
                values.update(dict.fromkeys(cls._agreement_fields))
            else:
                values = {
                    'state': Log.cancelled_from(complaint) or 'received',
                    'cancel_reason': None,
                    }
            to_write.extend(([complaint], values))
        if to_write:
            cls.write(*to_write)
            cls.write(complaints, {'reopen_reason': None})

    # Reading by the supervising leader

    @classmethod
    @ModelView.button
    @requires_state(*OPEN_STATES)
    def mark_read(cls, complaints):
        """Record that the supervising leader read the complaints, with the
        note, and close the reminder they got at receipt [S0-35]"""
        pool = Pool()
        User = pool.get('res.user')
        Reminder = pool.get('crm.reminder')
        user = User(Transaction().user)
        employees = {e.id for e in user.employees}
        for complaint in complaints:
            if complaint.read_at:
                raise ComplaintReadError(gettext(
                        'crm_module.msg_complaint_read_already',
                        complaint=complaint.rec_name,
                        user=complaint.read_by.rec_name
                        if complaint.read_by else '-'))
            supervising = complaint.supervising_department
            manager = supervising.manager if supervising else None
            if Transaction().user and (
                    not manager or manager.id not in employees):
                raise ComplaintReadError(gettext(
                        'crm_module.msg_complaint_read_leader',
                        complaint=complaint.rec_name,
                        manager=manager.rec_name if manager else '-'))
        with without_check_access(), workflow():
            cls.write(complaints, stamp('read', now()))
            reminders = Reminder.search([
                    ('key', 'in', [c._intake_reminder_key()
                            for c in complaints]),
                    ('state', '=', 'open'),
                    ])
            if reminders:
                Reminder.write(reminders, {
                        'state': 'done', **stamp('done')})

    def _intake_reminder_key(self):
        return 'complaint_intake:%s' % self.id

    def _get_intake_reminder(self):
        "Return the values of the reminder of the supervising leader"
        supervising = self.supervising_department
        if not supervising or not supervising.manager:
            return
        date = company_time(self.company, self.received_at).date()
        return {
            'company': self.company.id,
            'party': self.party.id,
            'kind': 'complaint_intake',
            'due_date': date,
            'remind_date': date,
            'employee': supervising.manager.id,
            'key': self._intake_reminder_key(),
            }

    @classmethod
    def notify_intake(cls, complaints):
        """Copy the complaints to the supervising leader for reading: a
        reminder to the manager of the supervising department"""
        Reminder = Pool().get('crm.reminder')
        vlist = list(filter(None, (c._get_intake_reminder()
                    for c in complaints)))
        if vlist:
            with without_check_access(), workflow():
                Reminder.create(vlist)

    # Escalation

    @classmethod
    def escalate(cls):
        """Mark the response, handling and resolution deadlines passed
        without action as breached, record an escalation for each and
        notify the manager of the supervising department"""
        moment = now()
        escalations = []
        with without_check_access():
            for kind, states in LIMIT_STATES.items():
                late = cls.search([
                        ('state', 'in', states),
                        ('%s_status' % kind, '=', 'pending'),
                        ('%s_deadline' % kind, '<', moment),
                        ])
                if late:
                    with workflow():
                        cls.write(late, {'%s_status' % kind: 'breached'})
                    escalations.extend(cls._escalate(late, kind, moment))
        return escalations

    @classmethod
    def _escalate(cls, complaints, kind, moment):
        "Record and notify the breach of the time limit of kind"
        Escalation = Pool().get('crm.complaint.escalation')
        with without_check_access(), workflow():
            escalations = Escalation.create(
                [c._get_escalation(kind, moment) for c in complaints])
            Escalation.notify(escalations)
        return escalations

    def _get_escalation(self, kind, moment):
        supervising = self.supervising_department
        if kind == 'return_visit' or not self.responsible_department:
            # the receiving department calls back [S0-39]
            department = self.receiving_department
        else:
            department = self.responsible_department
        return {
            'complaint': self.id,
            'kind': kind,
            'deadline': getattr(self, '%s_deadline' % kind),
            'date': moment,
            'department': department.id if department else None,
            'manager': (supervising.manager.id
                if supervising and supervising.manager else None),
            }


class ComplaintRecordMixin:
    "A record of a complaint's history, in the company of its complaint"
    __slots__ = ()
    complaint = fields.Many2One(
        'crm.complaint', "Complaint", required=True, ondelete='CASCADE',
        readonly=True)
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'get_company', searcher='search_company')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.complaint, Index.Equality())))

    def get_company(self, name):
        return self.complaint.company.id

    @classmethod
    def search_company(cls, name, clause):
        return [('complaint.' + clause[0], *clause[1:])]


class ComplaintLog(
        ComplaintRecordMixin, WorkflowRecordMixin, ModelSQL, ModelView):
    "A change of state of a complaint: who and when"
    __name__ = 'crm.complaint.log'
    __string__ = "Complaint State Change"
    _record_message = 'crm_module.msg_complaint_log_readonly'

    date = fields.DateTime("Date", required=True, readonly=True)
    user = fields.Many2One('res.user', "User", readonly=True)
    from_state = fields.Selection(
        [(None, ""), *STATES], "From State", readonly=True)
    to_state = fields.Selection(STATES, "To State", readonly=True)
    note = fields.Text("Note", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def record(cls, complaints, from_state, to_state):
        user = Transaction().user
        moment = now()
        vlist = []
        for complaint in complaints:
            note = None
            if to_state == 'cancelled':
                note = complaint.cancel_reason
            elif from_state in {'closed', 'cancelled'}:
                note = complaint.reopen_reason
            elif from_state == 'awaiting_approval':
                note = complaint.review_note
            elif from_state == 'return_visit' and to_state == 'resolving':
                note = gettext('crm_module.msg_complaint_log_dissatisfied',
                    satisfaction=complaint.satisfaction,
                    target=complaint.get_satisfaction_target(),
                    answer=complaint.return_visit_result or '')
            vlist.append({
                    'complaint': complaint.id,
                    'date': moment,
                    'user': user or None,
                    'from_state': from_state,
                    'to_state': to_state,
                    'note': note,
                    })
        with without_check_access(), workflow():
            return cls.create(vlist)

    @classmethod
    def cancelled_from(cls, complaint):
        logs = cls.search([
                ('complaint', '=', complaint.id),
                ('to_state', '=', 'cancelled'),
                ], order=[('id', 'DESC')], limit=1)
        return logs[0].from_state if logs else None


class Escalation(
        CustomerRecNameMixin, ComplaintRecordMixin, WorkflowRecordMixin,
        ModelSQL, ModelView):
    "A breached time limit escalated to the supervising manager"
    __name__ = 'crm.complaint.escalation'
    __string__ = "Complaint Escalation"
    _customer_field = 'complaint.party'
    _record_message = 'crm_module.msg_complaint_escalation_readonly'
    # the scheduled action records whom it notified
    _record_write = 'workflow'

    kind = fields.Selection(ESCALATION_KINDS, "Time Limit", readonly=True)
    deadline = fields.DateTime("Deadline", readonly=True)
    date = fields.DateTime("Escalated At", readonly=True)
    department = fields.Many2One(
        'crm.department', "Department", readonly=True,
        help="The department responsible when the limit was breached.")
    manager = fields.Many2One(
        'company.employee', "Supervising Manager", readonly=True)
    notified_users = fields.Integer(
        "Notified Users", readonly=True,
        help="How many users of the manager received a notification.")
    emailed = fields.Boolean("E-mailed", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def notify(cls, escalations):
        """Notify the users of the supervising manager in the ERP and, when
        configured, by e-mail"""
        Complaint = Pool().get('crm.complaint')
        for escalation in escalations:
            if not escalation.manager:
                continue
            complaint = escalation.complaint
            values = {'notified_users': notify_employees(
                    [escalation.manager], complaint, escalation,
                    '_get_message')}
            if (Complaint._config_value(
                        'complaint_escalation_email', complaint.company.id)
                    and escalation.manager.party.email):
                escalation._send_email()
                values['emailed'] = True
            with workflow():
                cls.write([escalation], values)

    def _get_message(self):
        kind = gettext('crm_module.msg_complaint_escalation_%s' % self.kind)
        label = gettext('crm_module.msg_complaint_escalation_label',
            complaint=self.complaint.rec_name, kind=kind)
        description = gettext(
            'crm_module.msg_complaint_escalation_description',
            deadline=company_time(
                self.complaint.company, self.deadline).strftime(
                '%Y-%m-%d %H:%M'),
            department=self.department.rec_name if self.department else '-')
        return label, description

    def _send_email(self):
        with Transaction().set_context(language=(
                    self.manager.party.lang.code
                    if self.manager.party.lang else None)):
            label, description = self._get_message()
        msg = EmailMessage()
        msg['From'] = config.get('email', 'from')
        msg['To'] = self.manager.party.email
        msg['Subject'] = label
        msg.set_content(description)
        send_message_transactional(msg)
