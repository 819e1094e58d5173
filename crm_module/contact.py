import datetime as dt

from sql import Literal, Null, Union
from sql.aggregate import Max
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp, Function

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .clock import today
from .common import CustomerRecNameMixin


class _Date(Function):
    "The date of a timestamp, DATE() on SQLite and on PostgreSQL"
    __slots__ = ()
    _function = 'DATE'


class LastContact(CustomerRecNameMixin, ModelSQL, ModelView):
    """The last contact of the company with each customer: a visit, a sale
    (or any kind of contact _last_contact_queries returns); customers
    without contact for the configured number of days are dormant.

    Rows are the customers of the context's company: those with a tier
    and those with any contact.
    """
    __name__ = 'crm.last_contact'
    __string__ = "Customer Last Contact"

    company = fields.Many2One('company.company', "Company", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    tier = fields.Many2One('crm.tier', "Customer Tier", readonly=True)
    account_manager = fields.Many2One(
        'company.employee', "Key Account Manager", readonly=True)
    last_contact = fields.Date("Last Contact", readonly=True)
    dormant = fields.Function(
        fields.Boolean(
            "Dormant", help="No contact for the configured number of days."),
        'get_dormant', searcher='search_dormant')
    days = fields.Function(
        fields.Integer("Days without Contact"), 'get_days')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('last_contact', 'ASC NULLS FIRST'), ('party', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def _last_contact_queries(cls):
        """Return SQL queries of (company, party, date) rows, one query per
        kind of contact; another kind of contact is one more query"""
        pool = Pool()
        Visit = pool.get('crm.visit')
        Summary = pool.get('crm.sales.summary')
        Complaint = pool.get('crm.complaint')
        visit = Visit.__table__()
        summary = Summary.__table__()
        complaint = Complaint.__table__()
        return [
            visit.select(
                visit.company.as_('company'), visit.party.as_('party'),
                Max(visit.date).as_('date'),
                group_by=[visit.company, visit.party]),
            summary.select(
                summary.company.as_('company'), summary.party.as_('party'),
                Max(Coalesce(summary.last_sale_date, summary.month)
                    ).as_('date'),
                where=summary.party != Null,
                group_by=[summary.company, summary.party]),
            complaint.select(
                complaint.company.as_('company'),
                complaint.party.as_('party'),
                _Date(Max(complaint.received_at)).as_('date'),
                group_by=[complaint.company, complaint.party]),
            ]

    @classmethod
    def dormant_cutoff(cls):
        "Return the last day of contact that leaves a customer dormant today"
        Configuration = Pool().get('crm.configuration')
        company = Transaction().context.get('company')
        days = Configuration(1).get_multivalue(
            'dormant_days', company=company)
        if days is None:
            days = 90
        return today() - dt.timedelta(days=days)

    @classmethod
    def table_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        party = Party.__table__()
        tier = Tier.__table__()
        company = Transaction().context.get('company') or -1

        contacts = Union(*cls._last_contact_queries(), all_=True)
        last = contacts.select(
            contacts.party.as_('party'), Max(contacts.date).as_('date'),
            where=contacts.company == company,
            group_by=[contacts.party])
        return (party
            .join(tier, 'LEFT', condition=(party.crm_tier == tier.id)
                & (tier.company == company))
            .join(last, 'LEFT', condition=last.party == party.id)
            .select(
                party.id.as_('id'),
                Literal(0).as_('create_uid'),
                CurrentTimestamp().as_('create_date'),
                cls.write_uid.sql_cast(Literal(Null)).as_('write_uid'),
                cls.write_date.sql_cast(Literal(Null)).as_('write_date'),
                Literal(company).as_('company'),
                party.id.as_('party'),
                tier.id.as_('tier'),
                party.crm_account_manager.as_('account_manager'),
                last.date.as_('last_contact'),
                where=(party.active == Literal(True))
                & ((tier.id != Null) | (last.party != Null))))

    @classmethod
    def dormant_domain(cls, dormant=True):
        "Return the domain on last_contact of the dormant customers"
        cutoff = cls.dormant_cutoff()
        if dormant:
            return ['OR',
                ('last_contact', '=', None),
                ('last_contact', '<=', cutoff),
                ]
        return [('last_contact', '>', cutoff)]

    def get_dormant(self, name):
        return (not self.last_contact
            or self.last_contact <= self.dormant_cutoff())

    @classmethod
    def search_dormant(cls, name, clause):
        _, operator, value = clause
        return cls.dormant_domain((operator == '=') == bool(value))

    def get_days(self, name):
        if not self.last_contact:
            return None
        return (today() - self.last_contact).days
