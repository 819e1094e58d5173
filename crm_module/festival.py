"""The calendar of traditional festivals on which strategic and key
customers are greeted, shipped for this year and the next."""
import datetime as dt

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

from .clock import today
from .common import CodeNameMixin, save_shipped
from .exceptions import FestivalError
from .workflow import workflow

# The shipped festivals (code, English, Chinese, Gregorian date per year):
# the lunar ones move every year, so only the years listed can be shipped.
FESTIVALS = [
    ('new_year', "New Year's Day", "元旦", {
            2026: (1, 1), 2027: (1, 1)}),
    ('spring', "Spring Festival", "春节", {
            2026: (2, 17), 2027: (2, 6)}),
    ('lantern', "Lantern Festival", "元宵节", {
            2026: (3, 3), 2027: (2, 20)}),
    ('dragon_boat', "Dragon Boat Festival", "端午节", {
            2026: (6, 19), 2027: (6, 9)}),
    ('mid_autumn', "Mid-Autumn Festival", "中秋节", {
            2026: (9, 25), 2027: (9, 15)}),
    ('national_day', "National Day", "国庆节", {
            2026: (10, 1), 2027: (10, 1)}),
    ]
# No rulebook says how long before a festival the greetings are prepared:
# two weeks is the product's default.
DEFAULT_REMIND_DAYS = 14


def shipped_years(date):
    "The years whose festivals are shipped on date: its year and the next"
    return [date.year, date.year + 1]


class Festival(CodeNameMixin, DeactivableMixin, ModelSQL, ModelView):
    "A traditional festival of a company's calendar"
    __name__ = 'crm.festival'
    __string__ = "Festival"

    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    code = fields.Char(
        "Code", strip=True,
        help="The code of a shipped festival, by which it is shipped once "
        "a year.")
    name = fields.Char("Name", required=True, translate=True)
    year = fields.Integer("Year", required=True)
    date = fields.Date("Date", required=True)
    remind_days = fields.Integer(
        "Remind Days Ahead", required=True,
        help="How many days before the festival the account managers of "
        "strategic and key customers are reminded to greet them; the "
        "shipped 14 days are the product's default, no rulebook gives a "
        "number.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_name_year_uniq', Unique(t, t.company, t.name, t.year),
                'crm_module.msg_festival_unique'),
            ]
        cls._sql_indexes.add(Index(t,
                (t.company, Index.Equality()), (t.date, Index.Range())))
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        # Every update ships the festivals of this year and the next to
        # the companies that do not have them yet.
        Company = Pool().get('company.company')
        if backend.TableHandler.table_exist(Company._table):
            with without_check_access():
                cls.create_defaults(Company.search([]))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_year(cls):
        return today().year

    @classmethod
    def default_remind_days(cls):
        return DEFAULT_REMIND_DAYS

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        moved = [f for festivals, values in zip(
                actions, actions, strict=False)
            if values.keys() & {'date', 'remind_days'} for f in festivals]
        if moved:
            cls.update_reminders(moved)

    @classmethod
    def update_reminders(cls, festivals):
        "Move the open reminders of festivals to their date and days ahead"
        Reminder = Pool().get('crm.reminder')
        festivals = cls.browse(festivals)
        to_write = []
        with without_check_access():
            for festival in festivals:
                reminders = Reminder.search([
                        ('festival', '=', festival.id),
                        ('state', '=', 'open'),
                        ])
                if reminders:
                    to_write.extend((reminders, {
                                'due_date': festival.date,
                                'remind_date': festival.date - dt.timedelta(
                                    days=festival.remind_days),
                                }))
            if to_write:
                # reminders are made and moved by the server only
                with workflow():
                    Reminder.write(*to_write)

    @fields.depends('date')
    def on_change_date(self):
        if self.date:
            self.year = self.date.year

    def get_rec_name(self, name):
        return '%s %s' % (self.name, self.year)

    @classmethod
    def create_defaults(cls, companies, date=None):
        """Give companies the shipped festivals of the year of date (today)
        and the next that they have by neither code nor name"""
        years = shipped_years(date or today())
        with Transaction().set_context(active_test=False, language='en'):
            existing = cls.search([
                    ('company', 'in', [c.id for c in companies]),
                    ('year', 'in', years),
                    ])
            have = {(f.company.id, f.year, key)
                for f in existing for key in [f.code, f.name] if key}
        vlist = []
        for company in companies:
            for code, name, _, dates in FESTIVALS:
                for year in years:
                    if (year not in dates
                            or (company.id, year, code) in have
                            or (company.id, year, name) in have):
                        continue
                    vlist.append({
                            'company': company.id,
                            'code': code,
                            'name': name,
                            'year': year,
                            'date': dt.date(year, *dates[year]),
                            })
        return save_shipped(
            cls, vlist, {code: zh for code, _, zh, _ in FESTIVALS})

    @classmethod
    def validate_fields(cls, festivals, field_names):
        super().validate_fields(festivals, field_names)
        if field_names & {'date', 'year'}:
            for festival in festivals:
                if festival.date.year != festival.year:
                    raise FestivalError(gettext(
                            'crm_module.msg_festival_year',
                            festival=festival.name,
                            date=festival.date,
                            year=festival.year))
        if 'remind_days' in field_names:
            for festival in festivals:
                if festival.remind_days < 0:
                    raise FestivalError(gettext(
                            'crm_module.msg_festival_remind_days',
                            festival=festival.rec_name,
                            days=festival.remind_days))


class Company(metaclass=PoolMeta):
    __name__ = 'company.company'

    @classmethod
    def create(cls, vlist):
        companies = super().create(vlist)
        cls.create_crm_festivals(companies)
        return companies

    @classmethod
    def create_crm_festivals(cls, companies):
        "Give new companies the shipped festivals of this year and the next"
        Festival = Pool().get('crm.festival')
        # The new company is not yet among the user's companies.
        with without_check_access():
            return Festival.create_defaults(companies)
