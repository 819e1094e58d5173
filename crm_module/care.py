from dateutil.relativedelta import relativedelta

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import today
from .common import CustomerRecNameMixin
from .exceptions import CareActionError, CareDateError

KINDS = [
    ('anniversary', "Customer Anniversary"),
    ('opening', "Opening Date"),
    ('milestone', "Project Milestone"),
    ('honour', "Honour"),
    ('initiative', "Major Initiative"),
    ]
# What was done for an occurrence of a care date
ACTION_KINDS = [
    ('greeting', "Greeting"),
    ('visit', "Visit"),
    ('gift', "Gift"),
    ('other', "Other"),
    ]
# In whose name it was done: the rulebook congratulates in the head
# office's name; a list, not a text, so that the names can be counted.
ACTION_NAMES = [
    ('head_office', "Head Office"),
    ('leadership', "Company Leadership"),
    ('account_manager', "Account Manager"),
    ]


def next_occurrence(date, recurring, on_or_after):
    """Return the first occurrence of date on or after on_or_after, None if
    it is past and not recurring; February 29 falls on February 28 in other
    years"""
    if not recurring:
        return date if date >= on_or_after else None
    if date >= on_or_after:
        return date
    years = on_or_after.year - date.year
    occurrence = date + relativedelta(years=years)
    if occurrence < on_or_after:
        occurrence = date + relativedelta(years=years + 1)
    return occurrence


def is_occurrence(date, recurring, day):
    "Tell whether day is an occurrence of date (every year if recurring)"
    return next_occurrence(date, recurring, day) == day


def nearest_occurrence(date, recurring, day):
    """Return the occurrence of date nearest to day: the date itself if
    not recurring, else the one of the last year or the next one"""
    if not recurring:
        return date
    last = next_occurrence(date, True, day - relativedelta(years=1))
    coming = next_occurrence(date, True, day)
    return last if (day - last) < (coming - day) else coming


class CareDate(CustomerRecNameMixin, ModelSQL, ModelView):
    __name__ = 'crm.care_date'
    __string__ = "Customer Care Date"
    _rec_name_fields = ('name',)

    company = fields.Many2One('company.company', "Company", required=True)
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    name = fields.Char("Name", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True)
    kind_string = kind.translated('kind')
    date = fields.Date("Date", required=True)
    recurring = fields.Boolean(
        "Every Year", help="The date comes back every year.")
    remind_days = fields.Integer(
        "Remind Days Ahead", required=True,
        help="How many days before the date the reminder is created.")
    next_date = fields.Function(
        fields.Date("Next Date"), 'get_next_date')
    actions = fields.One2Many(
        'crm.care_date.action', 'care_date', "Care Actions",
        help="What was done for each occurrence of the date.")
    last_action = fields.Function(
        fields.Many2One('crm.care_date.action', "Last Action"),
        'get_last_action')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.party, Index.Equality())))
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_kind(cls):
        return 'anniversary'

    @classmethod
    def default_recurring(cls):
        return True

    @classmethod
    def default_remind_days(cls):
        return 7

    def get_rec_name(self, name):
        return '%s: %s' % (self.party.rec_name, self.name)

    def get_next_date(self, name):
        return next_occurrence(self.date, self.recurring, today())

    @classmethod
    def get_last_action(cls, care_dates, name):
        "The action done last for each care date, the latest recorded first"
        Action = Pool().get('crm.care_date.action')
        result = dict.fromkeys((c.id for c in care_dates), None)
        for sub_ids in grouped_slice(
                [c.id for c in care_dates], backend.MAX_QUERY_PARAMS):
            # newest last: the last one read per care date wins
            for action in Action.search([
                        ('care_date', 'in', list(sub_ids)),
                        ], order=[('date', 'ASC'), ('id', 'ASC')]):
                result[action.care_date.id] = action.id
        return result

    @classmethod
    def copy(cls, care_dates, default=None):
        default = default.copy() if default is not None else {}
        # what was done for a date is not done for its copy
        default.setdefault('actions', None)
        return super().copy(care_dates, default=default)

    @classmethod
    def validate_fields(cls, care_dates, field_names):
        super().validate_fields(care_dates, field_names)
        if field_names & {'date', 'recurring'}:
            # the actions recorded keep answering occurrences of the date
            Action = Pool().get('crm.care_date.action')
            Action.check_occurrence(
                [a for c in care_dates for a in c.actions])
        if 'remind_days' in field_names:
            for care_date in care_dates:
                if care_date.remind_days < 0:
                    raise CareDateError(gettext(
                            'crm_module.msg_care_date_remind_days',
                            care_date=care_date.rec_name,
                            days=care_date.remind_days))


class CareAction(CustomerRecNameMixin, ModelSQL, ModelView):
    "What was done for one occurrence of a customer care date"
    __name__ = 'crm.care_date.action'
    __string__ = "Care Action"
    _customer_field = 'care_date.party'

    care_date = fields.Many2One(
        'crm.care_date', "Care Date", required=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    party = fields.Function(
        fields.Many2One(
            'party.party', "Customer",
            context={
                'company': Eval('company', -1),
                },
            depends={'company'}),
        'on_change_with_party')
    occurrence = fields.Date(
        "Occurrence", required=True,
        help="The date of the occurrence the action answers: the care "
        "date, or for a date of every year the same day of some year.")
    kind = fields.Selection(ACTION_KINDS, "Kind", required=True)
    kind_string = kind.translated('kind')
    in_name_of = fields.Selection(
        ACTION_NAMES, "In the Name of", required=True,
        help="In whose name the customer was congratulated or visited.")
    in_name_of_string = in_name_of.translated('in_name_of')
    done_by = fields.Many2One(
        'company.employee', "Done By", required=True,
        domain=[('company', '=', Eval('company', -1))])
    date = fields.Date("Done On", required=True)
    notes = fields.Text("Notes")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.care_date, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_kind(cls):
        return 'greeting'

    @classmethod
    def default_in_name_of(cls):
        return 'head_office'

    @classmethod
    def default_done_by(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_date(cls):
        return today()

    @fields.depends('care_date', '_parent_care_date.company')
    def on_change_with_company(self, name=None):
        return self.care_date.company if self.care_date else None

    @classmethod
    def search_company(cls, name, clause):
        return [('care_date.' + clause[0], *clause[1:])]

    @fields.depends('care_date', '_parent_care_date.party')
    def on_change_with_party(self, name=None):
        return self.care_date.party if self.care_date else None

    @fields.depends(
        'care_date', 'occurrence', '_parent_care_date.date',
        '_parent_care_date.recurring')
    def on_change_care_date(self):
        if self.care_date and not self.occurrence:
            self.occurrence = nearest_occurrence(
                self.care_date.date, self.care_date.recurring, today())

    def get_rec_name(self, name):
        return '%s %s (%s)' % (
            self.date.isoformat(), self.kind_string, self.in_name_of_string)

    @classmethod
    def validate_fields(cls, actions, field_names):
        super().validate_fields(actions, field_names)
        if field_names & {'care_date', 'occurrence'}:
            cls.check_occurrence(actions)
        if 'date' in field_names:
            date = today()
            for action in actions:
                if action.date > date:
                    raise CareActionError(gettext(
                            'crm_module.msg_care_action_future',
                            care_date=action.care_date.rec_name,
                            date=action.date))

    @classmethod
    def check_occurrence(cls, actions):
        "Refuse the actions whose occurrence is not one of their care date"
        for action in actions:
            care_date = action.care_date
            if not is_occurrence(
                    care_date.date, care_date.recurring, action.occurrence):
                raise CareActionError(gettext(
                        'crm_module.msg_care_action_occurrence',
                        care_date=care_date.rec_name,
                        occurrence=action.occurrence,
                        date=care_date.date))
