"""Complaints received by e-mail, with Tryton's inbound_email module.

Registered only when inbound_email is activated (tryton.cfg, [register
inbound_email]). A rule of an inbox runs the action "Receive Customer
Complaint" on the mails sent to the complaints address: each mail is kept
once (by its Message-ID) as a complaint e-mail of the rule's company. A
sender whose address is the e-mail of exactly one customer gets the
complaint at once, created through the complaint's own create so that the
number, the time limits, the repeat mark and the copy to the supervising
leader apply as to a complaint typed in. Another sender's mail waits in
the list of complaint e-mails to assign, until a user assigns the
customer (the complaint is then created, received when the mail was) or
rejects it with the reason.
"""
import datetime as dt
import hashlib
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime

from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import escape_wildcard
from trytond.transaction import Transaction, without_check_access

from .clock import now
from .exceptions import ComplaintEmailError
from .workflow import workflow

# The action of the inbound e-mail rules (inbound.email.rule, action)
ACTION = 'crm.complaint|receive_email'
# The channel and category of a complaint received by e-mail: the desk
# classifies it while it is received.
EMAIL_CHANNEL = 'email'
EMAIL_CATEGORY = 'other'
EMAIL_STATES = [
    ('waiting', "Waiting"),
    ('assigned', "Assigned"),
    ('rejected', "Rejected"),
    ]


def _sender(message):
    "Return the display name and the address of the sender of message"
    pairs = getaddresses(message.get_all('From') or [])
    name, address = pairs[0] if pairs else ('', '')
    return (name or '').strip(), (address or '').strip()


def _text(message):
    "Return the plain text of message, else its HTML as it is, else ''"
    body = message.get_body(preferencelist=('plain', 'html'))
    if body is None:
        return ''
    try:
        return body.get_content().strip()
    except (LookupError, KeyError):
        return ''


def _received_at(message, moment):
    """Return the Date of message as naive UTC, not after moment; moment
    when the mail has no readable Date"""
    try:
        value = parsedate_to_datetime(message['Date'])
    except (TypeError, ValueError, IndexError):
        return moment
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return min(value, moment).replace(microsecond=0)


class Rule(metaclass=PoolMeta):
    __name__ = 'inbound.email.rule'

    complaint_company = fields.Many2One(
        'company.company', "Complaint Company",
        states={
            'required': Eval('action') == ACTION,
            'invisible': Eval('action') != ACTION,
            },
        help="The company whose customers' e-mails become complaints.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append((ACTION, "Receive Customer Complaint"))

    @classmethod
    def default_complaint_company(cls):
        return Transaction().context.get('company')


class Complaint(metaclass=PoolMeta):
    __name__ = 'crm.complaint'

    @classmethod
    def receive_email(cls, inbound_email, rule):
        """Keep the inbound e-mail as a complaint e-mail of the rule's
        company, with the complaint of its customer when the sender is
        known; return the complaint e-mail"""
        ComplaintEmail = Pool().get('crm.complaint.email')
        return ComplaintEmail.receive(inbound_email, rule.complaint_company)


class ComplaintEmail(Workflow, ModelSQL, ModelView):
    "An e-mail sent to the complaints address, and what became of it"
    __name__ = 'crm.complaint.email'
    __string__ = "Complaint E-mail"
    _rec_name = 'subject'

    _waiting = {
        'readonly': Eval('state') != 'waiting',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    email = fields.Function(
        fields.Many2One(
            'inbound.email', "E-mail",
            help="The e-mail as the inbox received it."),
        'get_email')
    message_id = fields.Char(
        "Message ID", required=True, readonly=True,
        help="Identifies the mail: the same mail received again is kept "
        "once.")
    sender = fields.Char(
        "Sender", readonly=True,
        help="The address the e-mail came from.")
    sender_name = fields.Char(
        "Sender Name", readonly=True,
        help="The display name of the sender: the contact person of the "
        "complaint.")
    subject = fields.Char("Subject", readonly=True)
    body = fields.Text("Text", readonly=True)
    received_at = fields.DateTime(
        "Received At", required=True, readonly=True,
        help="The date of the e-mail, or when it arrived if it had none "
        "or one in the future: the complaint's time limits count from it.")
    party = fields.Many2One(
        'party.party', "Customer", states=_waiting,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The customer the complaint is of: the one whose e-mail "
        "address sent it, else the one a user assigns.")
    complaint = fields.Many2One(
        'crm.complaint', "Complaint", readonly=True, ondelete='RESTRICT')
    reject_reason = fields.Text(
        "Reject Reason", states=_waiting,
        help="Why no complaint is made of the e-mail (spam, not a "
        "complaint...).")
    state = fields.Selection(
        EMAIL_STATES, "State", readonly=True, required=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('message_id_unique', Unique(t, t.company, t.message_id),
                'crm_module.msg_complaint_email_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.state, Index.Equality(cardinality='low')),
                where=t.state == 'waiting'))
        cls._order = [('received_at', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('waiting', 'assigned'),
            ('waiting', 'rejected'),
            }
        cls._buttons.update({
                'assign': {
                    'invisible': Eval('state') != 'waiting',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': Eval('state') != 'waiting',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'waiting'

    def get_rec_name(self, name):
        return '%s: %s' % (
            self.sender_name or self.sender or '-', self.subject or '')

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('subject', operator, operand, *extra),
            ('sender', operator, operand, *extra),
            ('sender_name', operator, operand, *extra),
            ]

    @classmethod
    def get_email(cls, records, name):
        "The first inbound e-mail whose result is the record"
        Email = Pool().get('inbound.email')
        result = dict.fromkeys((r.id for r in records), None)
        with without_check_access():
            emails = Email.search([
                    ('result', 'in', [str(r) for r in records]),
                    ], order=[('id', 'DESC')])
        for inbound in emails:
            result[inbound.result.id] = inbound.id
        return result

    @classmethod
    def receive(cls, inbound_email, company):
        """Return the complaint e-mail of inbound_email in company, made
        the first time the mail arrives"""
        parser = BytesParser(policy=default_policy)
        data = inbound_email.data
        if isinstance(data, str):
            data = data.encode()
        message = parser.parsebytes(data or b'')
        message_id = (str(message['Message-ID'] or '').strip()
            or 'sha256:' + hashlib.sha256(data or b'').hexdigest())
        # Serialises the receipts: a mail posted twice at once is kept
        # once (the unique constraint holds where there is no lock).
        cls.lock()
        existing = cls.search([
                ('company', '=', company.id),
                ('message_id', '=', message_id),
                ], limit=1)
        if existing:
            return existing[0]
        name, address = _sender(message)
        record = cls(
            company=company,
            message_id=message_id,
            sender=address or None,
            sender_name=name or None,
            subject=str(message['Subject'] or '').strip() or None,
            body=_text(message) or None,
            received_at=_received_at(message, now()),
            state='waiting',
            )
        record.party = cls.match_customer(company, address)
        with without_check_access():
            record.save()
            if record.party:
                cls._assign([record])
        return record

    @classmethod
    def match_customer(cls, company, address):
        """Return the one customer of company with the e-mail address, or
        None: the company's own parties (the company, its employees) are
        no customers, and an address of several customers is assigned by
        a user"""
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        Employee = pool.get('company.employee')
        if not address or '@' not in address:
            return None
        with without_check_access():
            mechanisms = ContactMechanism.search([
                    ('type', '=', 'email'),
                    ('value', 'ilike', escape_wildcard(address)),
                    ('party.active', '=', True),
                    ])
            own = {company.party.id} | {e.party.id for e in Employee.search([
                        ('company', '=', company.id),
                        ])}
        parties = {m.party for m in mechanisms
            if m.value.strip().lower() == address.lower()
            and m.party.id not in own}
        if len(parties) == 1:
            return parties.pop()
        return None

    def _get_complaint(self):
        "Return the values of the complaint of the e-mail"
        description = '\n\n'.join(filter(None, [self.subject, self.body]))
        return {
            'company': self.company.id,
            'party': self.party.id,
            'channel': EMAIL_CHANNEL,
            'category': EMAIL_CATEGORY,
            'received_at': self.received_at,
            'description': description or gettext(
                'crm_module.msg_complaint_email_no_text'),
            'contact': self.sender_name or self.sender,
            }

    @classmethod
    def _assign(cls, records):
        "Create the complaints of records and mark them assigned"
        Complaint = Pool().get('crm.complaint')
        by_company = {}
        for record in records:
            by_company.setdefault(record.company, []).append(record)
        for company, records in by_company.items():
            with Transaction().set_context(company=company.id), \
                    without_check_access(), workflow():
                complaints = Complaint.create(
                    [r._get_complaint() for r in records])
                for record, complaint in zip(
                        records, complaints, strict=True):
                    record.complaint = complaint
                    record.state = 'assigned'
                cls.save(records)

    @classmethod
    @ModelView.button
    @Workflow.transition('assigned')
    def assign(cls, records):
        """Create the complaints of the e-mails of the customers the user
        chose"""
        for record in records:
            if not record.party:
                raise ComplaintEmailError(gettext(
                        'crm_module.msg_complaint_email_assign_party',
                        email=record.rec_name))
        cls._assign([r for r in records if not r.complaint])

    @classmethod
    @ModelView.button
    @Workflow.transition('rejected')
    def reject(cls, records):
        for record in records:
            if not (record.reject_reason or '').strip():
                raise ComplaintEmailError(gettext(
                        'crm_module.msg_complaint_email_reject_reason',
                        email=record.rec_name))
