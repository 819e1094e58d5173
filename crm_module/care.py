from dateutil.relativedelta import relativedelta

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .clock import today
from .common import CustomerRecNameMixin
from .exceptions import CareDateError

KINDS = [
    ('anniversary', "Customer Anniversary"),
    ('opening', "Opening Date"),
    ('milestone', "Project Milestone"),
    ('honour', "Honour"),
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
    def validate_fields(cls, care_dates, field_names):
        super().validate_fields(care_dates, field_names)
        if 'remind_days' in field_names:
            for care_date in care_dates:
                if care_date.remind_days < 0:
                    raise CareDateError(gettext(
                            'crm_module.msg_care_date_remind_days',
                            care_date=care_date.rec_name,
                            days=care_date.remind_days))
