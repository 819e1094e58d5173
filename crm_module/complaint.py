import datetime as dt
import json
from collections import namedtuple
from decimal import Decimal
from email.message import EmailMessage

from trytond import config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.sendmail import send_message_transactional
from trytond.transaction import Transaction, without_check_access

from .clock import company_time, now
from .common import CustomerRecNameMixin
from .exceptions import (
    ComplaintApprovalError, ComplaintCancelError, ComplaintCloseError,
    ComplaintDeleteError, ComplaintLockedError, ComplaintReopenError,
    ComplaintResolveError, ComplaintSatisfactionError,
    ComplaintTimeLimitError)
from .workflow import (
    WorkflowGuardMixin, WorkflowRecordMixin, guarded_transition,
    requires_state, stamp, stamp_fields, unstamp, workflow)

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
    ('resolution', "Resolution"),
    ]
OPEN_STATES = [
    'received', 'acknowledged', 'investigating', 'awaiting_approval',
    'resolving', 'return_visit']
# States in which the actions are not yet carried out
UNRESOLVED_STATES = OPEN_STATES[:-1]
# A complaint handled first is resolved before its measures are approved:
# until then they are still analysed and submitted.
HANDLED_FIRST_UNAPPROVED = Eval('handled_first', False) & ~Eval('approved_at')

# The shipped time limits (doc/policy.md#complaints-and-time-limits): first
# response within 24 hours,
# resolution in 7 / 3 / 1 days by severity; strategic customers first.
DEFAULT_RESPONSE = dt.timedelta(hours=24)
DEFAULT_RESOLUTION = {
    'general': dt.timedelta(days=7),
    'serious': dt.timedelta(days=3),
    'very_serious': dt.timedelta(days=1),
    }
DEFAULT_PRIORITY = 20
STRATEGIC_PRIORITY = 10

Limit = namedtuple('Limit', ['response_time', 'resolution_time', 'priority'])


def _hours(start, end):
    return (Decimal((end - start).total_seconds()) / 3600).quantize(
        Decimal('0.01'))


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
    resolution_time = fields.TimeDelta(
        "Resolution Time", required=True,
        help="Time from receipt until the handling measures are carried "
        "out.")
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
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_response_time(cls):
        return DEFAULT_RESPONSE

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
        for name in ['response_time', 'resolution_time']:
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
                limit.response_time, limit.resolution_time, limit.priority)
        return Limit(
            DEFAULT_RESPONSE, DEFAULT_RESOLUTION[severity], DEFAULT_PRIORITY)

    @classmethod
    def shipped_rows(cls, company, strategic_tier=None):
        "Return the values of the shipped time limit matrix of company"
        rows = []
        tiers = [(None, DEFAULT_PRIORITY)]
        if strategic_tier:
            tiers.insert(0, (strategic_tier.id, STRATEGIC_PRIORITY))
        for tier, priority in tiers:
            for severity, _ in SEVERITIES:
                rows.append({
                        'company': company.id,
                        'severity': severity,
                        'tier': tier,
                        'response_time': DEFAULT_RESPONSE,
                        'resolution_time': DEFAULT_RESOLUTION[severity],
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
    resolution_deadline = fields.DateTime(
        "Resolution Deadline", readonly=True)
    response_due = fields.Function(
        fields.Char(
            "Response Due",
            help="The response deadline to the minute, in the company's "
            "time zone."),
        'get_due')
    resolution_due = fields.Function(
        fields.Char(
            "Resolution Due",
            help="The resolution deadline to the minute, in the company's "
            "time zone."),
        'get_due')
    responded_at = fields.DateTime("Responded At", readonly=True)
    resolved_at = fields.DateTime("Resolved At", readonly=True)
    closed_at = fields.DateTime("Closed At", readonly=True)
    response_hours = fields.Numeric(
        "Response Hours", digits=(16, 2), readonly=True)
    resolution_hours = fields.Numeric(
        "Resolution Hours", digits=(16, 2), readonly=True)
    response_status = fields.Selection(
        LIMIT_STATUSES, "Response Status", readonly=True)
    resolution_status = fields.Selection(
        LIMIT_STATUSES, "Resolution Status", readonly=True)
    at_risk = fields.Function(
        fields.Boolean(
            "At Risk",
            help="A pending deadline falls within the configured hours."),
        'get_at_risk', searcher='search_at_risk')
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
    actions_taken = fields.Text(
        "Actions Taken",
        help="Replacement, refund, repair, apology, compensation...")
    return_visit_date = fields.Date(
        "Return Visit Date", states=_return_visit)
    return_visit_by = fields.Many2One(
        'company.employee', "Return Visit By",
        domain=[('company', '=', Eval('company', -1))])
    return_visit_result = fields.Text(
        "Customer's Answer", states=_return_visit)
    satisfaction = fields.Integer(
        "Satisfaction", states=_return_visit,
        help="The customer's satisfaction from 1 (very poor) to 5 (very "
        "good).")
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
        'resolution_deadline', 'responded_at', 'resolved_at', 'closed_at',
        'response_hours', 'resolution_hours', 'response_status',
        'resolution_status', 'handled_first', 'is_repeat',
        *stamp_fields('approved')}
    # The fields a user may change, by group.
    _intake_fields = {
        'company', 'party', 'channel', 'description', 'received_at',
        'received_by'}
    _analysis_fields = {'category', 'severity', 'cause_analysis', 'measures'}
    _assignment_fields = {'responsible_department', 'responsible_employee'}
    _return_visit_fields = {
        'return_visit_date', 'return_visit_by', 'return_visit_result',
        'satisfaction'}
    _open_fields = {
        'contact', 'receiving_department', 'supervising_department',
        'cancel_reason'}
    # The fields a user may change in each state: their readonly states and
    # check_locked come from this table.
    _state_fields = {
        'received': (
            _open_fields | _intake_fields | _analysis_fields
            | _assignment_fields),
        'acknowledged': _open_fields | _analysis_fields | _assignment_fields,
        'investigating': _open_fields | _analysis_fields | _assignment_fields,
        'awaiting_approval': _open_fields | {'review_note'},
        'resolving': _open_fields | {'actions_taken'},
        'return_visit': (
            _open_fields | {'actions_taken'} | _return_visit_fields),
        'closed': {'reopen_reason'},
        'cancelled': {'reopen_reason'},
        }
    _state_fields_when = [
        ('resolving', HANDLED_FIRST_UNAPPROVED, _analysis_fields),
        ]

    @classmethod
    def __setup__(cls):
        super().__setup__()
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
                    'invisible': Eval('severity') != 'general',
                    'icon': 'tryton-launch',
                    'depends': ['severity'],
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
                'cancel': {
                    'icon': 'tryton-cancel',
                    },
                'reopen': {
                    'icon': 'tryton-undo',
                    },
                })

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
            'resolution_deadline': self.received_at + limit.resolution_time,
            }
        if self.response_status != 'pending':
            del values['response_deadline']
        if self.resolution_status != 'pending':
            del values['resolution_deadline']
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
    def order_resolution_due(cls, tables):
        table, _ = tables[None]
        return [table.resolution_deadline]

    def get_at_risk(self, name):
        return self.id in self._at_risk_ids([self.id])

    @classmethod
    def _at_risk_domain(cls):
        start = now()
        hours = cls._config_value('complaint_risk_hours') or 0
        end = start + dt.timedelta(hours=hours)
        return ['OR', [
                ('state', '=', 'received'),
                ('response_status', '=', 'pending'),
                ('response_deadline', '>=', start),
                ('response_deadline', '<=', end),
                ], [
                ('state', 'in', UNRESOLVED_STATES),
                ('resolution_status', '=', 'pending'),
                ('resolution_deadline', '>=', start),
                ('resolution_deadline', '<=', end),
                ]]

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
        if 'satisfaction' in field_names:
            for complaint in complaints:
                complaint.check_satisfaction()
        if 'received_at' in field_names:
            for complaint in complaints:
                complaint.check_received_at()

    def check_satisfaction(self):
        if self.satisfaction is not None and not 1 <= self.satisfaction <= 5:
            raise ComplaintSatisfactionError(gettext(
                    'crm_module.msg_satisfaction_range',
                    field=self.__names__('satisfaction')['field'],
                    value=self.satisfaction))

    def check_received_at(self):
        if self.received_at and self.received_at > now():
            raise ComplaintLockedError(gettext(
                    'crm_module.msg_complaint_received_future',
                    complaint=self.rec_name))

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
        for name in (cls._workflow_fields | cls._return_visit_fields | {
                    'cause_analysis', 'measures', 'review_note',
                    'actions_taken', 'cancel_reason', 'reopen_reason',
                    'responsible_department', 'responsible_employee'}):
            default.setdefault(name, None)
        default.setdefault('state', 'received')
        default.setdefault('handled_first', False)
        default.setdefault('is_repeat', False)
        default.setdefault('response_status', 'pending')
        default.setdefault('resolution_status', 'pending')
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
    @ModelView.button
    @guarded_transition('acknowledged')
    def acknowledge(cls, complaints):
        moment = now()
        for complaint in complaints:
            status = complaint.response_status
            if status == 'pending':
                status = ('met' if moment <= complaint.response_deadline
                    else 'breached')
            cls.write([complaint], {
                    'responded_at': moment,
                    'response_hours': _hours(complaint.received_at, moment),
                    'response_status': status,
                    })

    @classmethod
    @ModelView.button
    @guarded_transition('investigating', from_='acknowledged')
    def investigate(cls, complaints):
        for complaint in complaints:
            if not complaint.responsible_department:
                raise ComplaintApprovalError(gettext(
                        'crm_module.msg_complaint_responsible',
                        complaint=complaint.rec_name))

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
            if complaint.severity != 'general':
                raise ComplaintApprovalError(gettext(
                        'crm_module.msg_complaint_handle_first_severity',
                        complaint=complaint.rec_name,
                        severity=complaint.severity_string))
        cls.write(complaints, {'handled_first': True})

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
            if not (complaint.actions_taken or '').strip():
                raise ComplaintResolveError(gettext(
                        'crm_module.msg_complaint_resolve_actions',
                        complaint=complaint.rec_name))
            status = complaint.resolution_status
            if status == 'pending':
                status = ('met' if moment <= complaint.resolution_deadline
                    else 'breached')
            cls.write([complaint], {
                    'resolved_at': moment,
                    'resolution_hours': _hours(complaint.received_at, moment),
                    'resolution_status': status,
                    })

    @classmethod
    @ModelView.button
    @guarded_transition('closed')
    def close(cls, complaints):
        pool = Pool()
        Survey = pool.get('crm.satisfaction')
        for complaint in complaints:
            if not (complaint.return_visit_date
                    and (complaint.return_visit_result or '').strip()
                    and complaint.satisfaction):
                raise ComplaintCloseError(gettext(
                        'crm_module.msg_complaint_close_return_visit',
                        complaint=complaint.rec_name))
            complaint.check_satisfaction()
        cls.write(complaints, {'closed_at': now()})
        with workflow():
            Survey.create([c._get_return_visit_survey() for c in complaints])

    def _get_return_visit_survey(self):
        return {
            'company': self.company.id,
            'party': self.party.id,
            'date': self.return_visit_date,
            'kind': 'return_visit',
            'complaint': self.id,
            'overall': self.satisfaction,
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
                    'closed_at': None,
                    'handled_first': False,
                    **unstamp('approved'),
                    }
                values.update(dict.fromkeys(cls._return_visit_fields))
            else:
                values = {
                    'state': Log.cancelled_from(complaint) or 'received',
                    'cancel_reason': None,
                    }
            to_write.extend(([complaint], values))
        if to_write:
            cls.write(*to_write)
            cls.write(complaints, {'reopen_reason': None})

    # Escalation

    @classmethod
    def escalate(cls):
        """Mark the response and resolution deadlines passed without action
        as breached, record an escalation for each and notify the manager
        of the supervising department"""
        pool = Pool()
        Escalation = pool.get('crm.complaint.escalation')
        moment = now()
        with without_check_access():
            late_response = cls.search([
                    ('state', '=', 'received'),
                    ('response_status', '=', 'pending'),
                    ('response_deadline', '<', moment),
                    ])
            late_resolution = cls.search([
                    ('state', 'in', UNRESOLVED_STATES),
                    ('resolution_status', '=', 'pending'),
                    ('resolution_deadline', '<', moment),
                    ])
            with workflow():
                if late_response:
                    cls.write(late_response, {'response_status': 'breached'})
                if late_resolution:
                    cls.write(
                        late_resolution, {'resolution_status': 'breached'})
                escalations = Escalation.create(
                    [c._get_escalation('response', moment)
                        for c in late_response]
                    + [c._get_escalation('resolution', moment)
                        for c in late_resolution])
                Escalation.notify(escalations)
        return escalations

    def _get_escalation(self, kind, moment):
        supervising = self.supervising_department
        return {
            'complaint': self.id,
            'kind': kind,
            'deadline': getattr(self, '%s_deadline' % kind),
            'date': moment,
            'department': (self.responsible_department.id
                if self.responsible_department
                else self.receiving_department.id
                if self.receiving_department else None),
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
        pool = Pool()
        User = pool.get('res.user')
        Notification = pool.get('res.notification')
        ModelData = pool.get('ir.model.data')
        Complaint = pool.get('crm.complaint')
        action_id = ModelData.get_id('crm_module', 'act_complaint_form')
        notifications = []
        for escalation in escalations:
            if not escalation.manager:
                continue
            complaint = escalation.complaint
            users = User.search([
                    ('employees', '=', escalation.manager.id),
                    ])
            for user in users:
                language = user.language.code if user.language else None
                with Transaction().set_context(language=language):
                    label, description = escalation._get_message()
                notifications.append({
                        'user': user.id,
                        'label': label,
                        'description': description,
                        'icon': 'tryton-notification',
                        'model': Complaint.__name__,
                        'records': json.dumps([complaint.id]),
                        'action': action_id,
                        })
            values = {'notified_users': len(users)}
            if (Complaint._config_value(
                        'complaint_escalation_email', complaint.company.id)
                    and escalation.manager.party.email):
                escalation._send_email()
                values['emailed'] = True
            with workflow():
                cls.write([escalation], values)
        if notifications:
            Notification.create(notifications)

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
