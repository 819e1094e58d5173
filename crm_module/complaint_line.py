"""The lines of a complaint that its handlers write: the actions taken for
the customer [S4-15, S4-24] and the preventive measures of a quality problem
with their verification [S2-107]."""
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields, sequence_ordered
from trytond.pool import Pool
from trytond.pyson import Bool, Eval

from .clock import company_time, now
from .exceptions import ComplaintLineError

ACTION_KINDS = [
    ('replace', "Replace"),
    ('refund', "Refund"),
    ('repair', "Repair"),
    ('apology', "Apology"),
    ('compensation', "Compensation"),
    ]
# The kinds that are money paid back to the customer: their amount is needed
PAID_KINDS = {'refund', 'compensation'}


class ComplaintLineMixin:
    """A line of a complaint that its handlers may change only in the states
    in which the complaint lets them change the lines' field"""
    __slots__ = ()
    _complaint_field = None

    complaint = fields.Many2One(
        'crm.complaint', "Complaint", required=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.complaint, Index.Equality())))
        cls.complaint.states = {
            'readonly': Eval('id', -1) >= 0,
            }

    @fields.depends('complaint', '_parent_complaint.company')
    def on_change_with_company(self, name=None):
        return self.complaint.company if self.complaint else None

    @classmethod
    def search_company(cls, name, clause):
        return [('complaint.' + clause[0], *clause[1:])]

    @classmethod
    def check_complaint_state(cls, complaints):
        "Refuse a change of the lines of complaints their state locks"
        Complaint = Pool().get('crm.complaint')
        for complaint in complaints:
            if cls._complaint_field not in complaint._editable_fields():
                Complaint._raise_locked(complaint, {cls._complaint_field})

    @classmethod
    def create(cls, vlist):
        Complaint = Pool().get('crm.complaint')
        cls.check_complaint_state(Complaint.browse(
                {v['complaint'] for v in vlist if v.get('complaint')}))
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        Complaint = Pool().get('crm.complaint')
        actions = iter(args)
        complaints = set()
        for lines, values in zip(actions, actions, strict=False):
            complaints.update(line.complaint for line in lines)
            if values.get('complaint'):
                complaints.add(Complaint(values['complaint']))
        cls.check_complaint_state(complaints)
        super().write(*args)

    @classmethod
    def delete(cls, lines):
        cls.check_complaint_state({line.complaint for line in lines})
        super().delete(lines)


class Action(ComplaintLineMixin, sequence_ordered(), ModelSQL, ModelView):
    "An action taken for the customer of a complaint, with its cost"
    __name__ = 'crm.complaint.action'
    __string__ = "Complaint Action"
    _complaint_field = 'actions'

    kind = fields.Selection(ACTION_KINDS, "Kind", required=True)
    kind_string = kind.translated('kind')
    description = fields.Text("Description")
    amount = fields.Numeric(
        "Amount", digits='currency',
        states={
            'required': Eval('kind').in_(list(PAID_KINDS)),
            },
        help="What the action costs, in the company's currency; needed "
        "for a refund or a compensation.")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')

    @fields.depends('complaint', '_parent_complaint.company')
    def on_change_with_currency(self, name=None):
        if self.complaint and self.complaint.company:
            return self.complaint.company.currency

    def get_rec_name(self, name):
        return self.kind_string

    @classmethod
    def validate_fields(cls, actions, field_names):
        super().validate_fields(actions, field_names)
        if field_names & {'kind', 'amount'}:
            for action in actions:
                action.check_amount()

    def check_amount(self):
        if self.amount is not None and self.amount < 0:
            raise ComplaintLineError(gettext(
                    'crm_module.msg_complaint_action_amount_negative',
                    complaint=self.complaint.rec_name,
                    action=self.rec_name))


class PreventiveMeasure(
        ComplaintLineMixin, sequence_ordered(), ModelSQL, ModelView):
    "A preventive measure of a complaint, verified before it closes"
    __name__ = 'crm.complaint.preventive'
    __string__ = "Preventive Measure"
    _complaint_field = 'preventive_measures'

    name = fields.Char("Measure", required=True)
    owner = fields.Many2One(
        'company.employee', "Owner", required=True,
        domain=[('company', '=', Eval('company', -1))])
    due_date = fields.Date("Due Date", required=True)
    verified_by = fields.Many2One(
        'company.employee', "Verified By",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'required': Bool(Eval('verified_on')) | Bool(
                Eval('verification')),
            },
        help="Who checked that the measure works.")
    verified_on = fields.Date(
        "Verified On",
        states={
            'required': Bool(Eval('verified_by')) | Bool(
                Eval('verification')),
            })
    verification = fields.Text(
        "Verification Result",
        states={
            'required': Bool(Eval('verified_by')) | Bool(
                Eval('verified_on')),
            })
    verified = fields.Function(
        fields.Boolean("Verified"), 'get_verified')
    overdue = fields.Function(
        fields.Boolean(
            "Overdue", help="Not verified and past its due date."),
        'get_overdue')

    @classmethod
    def default_due_date(cls):
        return Pool().get('ir.date').today()

    def get_rec_name(self, name):
        return self.name

    def get_verified(self, name):
        return bool(self.verified_by and self.verified_on
            and (self.verification or '').strip())

    def get_overdue(self, name):
        if self.verified or not self.due_date:
            return False
        return self.due_date < Pool().get('ir.date').today()

    @classmethod
    def validate_fields(cls, measures, field_names):
        super().validate_fields(measures, field_names)
        if field_names & {'verified_by', 'verified_on', 'verification'}:
            for measure in measures:
                measure.check_verification()

    def check_verification(self):
        given = [bool(self.verified_by), bool(self.verified_on),
            bool((self.verification or '').strip())]
        if any(given) and not all(given):
            raise ComplaintLineError(gettext(
                    'crm_module.msg_complaint_preventive_incomplete',
                    complaint=self.complaint.rec_name,
                    measure=self.rec_name))
        company = self.complaint.company
        today = company_time(company, now()).date()
        if self.verified_on and self.verified_on > today:
            raise ComplaintLineError(gettext(
                    'crm_module.msg_complaint_preventive_future',
                    complaint=self.complaint.rec_name,
                    measure=self.rec_name))

