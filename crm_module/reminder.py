import datetime as dt

from sql import Literal, Null
from sql.aggregate import Min

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.rpc import RPC
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .care import next_occurrence
from .clock import today
from .common import CustomerRecNameMixin, to_the_minute
from .exceptions import ReminderError
from .visit import LEVELS
from .workflow import (
    GuardedButtonsMixin, guarded_transition, in_workflow, stamp, unstamp,
    workflow)

KINDS = [
    ('visit', "Visit Due"),
    ('care_date', "Care Date"),
    ('new_customer', "New Customer"),
    ('prospect', "Prospect Follow-Up"),
    ('data_review', "Data Review"),
    ('festival', "Festival"),
    ('news', "Customer News"),
    ('complaint_intake', "Complaint to Read"),
    ]
# The tiers whose customers are greeted on festivals
FESTIVAL_TIERS = ['strategic', 'key']
STATES = [
    ('open', "Open"),
    ('done', "Done"),
    ]


class Reminder(
        CustomerRecNameMixin, GuardedButtonsMixin, Workflow, ModelSQL,
        ModelView):
    "A reminder of something to do for a customer, created ahead of time"
    __name__ = 'crm.reminder'
    __string__ = "CRM Reminder"

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", required=True, readonly=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    kind_string = kind.translated('kind')
    level = fields.Selection(
        [(None, ""), *LEVELS], "Visit Level", readonly=True)
    level_string = level.translated('level')
    care_date = fields.Many2One(
        'crm.care_date', "Care Date", readonly=True, ondelete='CASCADE')
    festival = fields.Many2One(
        'crm.festival', "Festival", readonly=True, ondelete='CASCADE',
        states={
            'invisible': Eval('kind') != 'festival',
            })
    news = fields.Many2One(
        'crm.party.news', "News", readonly=True, ondelete='CASCADE',
        states={
            'invisible': Eval('kind') != 'news',
            })
    due_date = fields.Date(
        "Due Date", required=True, readonly=True,
        help="When the visit is due, the care date or the festival falls "
        "or the news came.")
    remind_date = fields.Date("Remind From", required=True, readonly=True)
    employee = fields.Many2One(
        'company.employee', "Responsible",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state') != 'open',
            })
    description = fields.Function(
        fields.Char(
            "Description",
            help="What is due, in the language of the user who reads it."),
        'get_description')
    key = fields.Char(
        "Key", required=True, readonly=True,
        help="What the reminder is for; one reminder per key and company.")
    state = fields.Selection(STATES, "State", readonly=True, sort=False)
    state_string = state.translated('state')
    done_by = fields.Many2One('res.user', "Done By", readonly=True)
    done_at = to_the_minute(fields.Timestamp("Done At", readonly=True))

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_uniq', Unique(t, t.company, t.key),
                'crm_module.msg_reminder_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.party, Index.Equality())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'open'),
                })
        cls._order = [('due_date', 'ASC'), ('id', 'ASC')]
        cls._transitions |= {
            ('open', 'done'),
            ('done', 'open'),
            }
        # A button is shown in the states of its transition (workflow.py).
        cls._buttons.update({
                'done': {
                    'icon': 'tryton-ok',
                    },
                'reopen': {
                    'icon': 'tryton-undo',
                    },
                })
        cls.__rpc__.update({
                'generate': RPC(readonly=False,
                    result=lambda reminders: [r.id for r in reminders]),
                })

    @staticmethod
    def default_state():
        return 'open'

    def get_description(self, name):
        if self.kind == 'visit':
            return gettext(
                'crm_module.msg_reminder_visit', level=self.level_string)
        elif self.kind == 'care_date':
            return '%s (%s)' % (
                self.care_date.name, self.care_date.kind_string)
        elif self.kind == 'new_customer':
            return gettext('crm_module.msg_reminder_new_customer')
        elif self.kind == 'prospect':
            return gettext('crm_module.msg_reminder_prospect')
        elif self.kind == 'data_review':
            return gettext('crm_module.msg_reminder_data_review')
        elif self.kind == 'festival':
            return self.festival.name
        elif self.kind == 'news':
            text = '%s (%s)' % (self.news.title, self.news.kind_string)
            if self.news.special_attention:
                text = gettext('crm_module.msg_reminder_news_special',
                    news=text)
            return text
        elif self.kind == 'complaint_intake':
            # the key is complaint_intake:<complaint id> (crm.complaint)
            Complaint = Pool().get('crm.complaint')
            complaint = Complaint(int(self.key.split(':', 1)[1]))
            return gettext('crm_module.msg_reminder_complaint_intake',
                complaint=complaint.rec_name,
                severity=complaint.severity_string)

    def get_rec_name(self, name):
        return '%s %s %s' % (
            self.party.rec_name, self.kind_string, self.due_date.isoformat())

    @classmethod
    def create(cls, vlist):
        if not in_workflow():
            raise ReminderError(gettext('crm_module.msg_reminder_create'))
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        if not in_workflow():
            actions = iter(args)
            for reminders, values in zip(actions, actions, strict=False):
                if set(values) - {'employee'}:
                    raise ReminderError(gettext(
                            'crm_module.msg_reminder_modify',
                            fields=', '.join(sorted(
                                    set(values) - {'employee'}))))
                for reminder in reminders:
                    if reminder.state != 'open':
                        raise ReminderError(gettext(
                                'crm_module.msg_reminder_done',
                                reminder=reminder.rec_name))
        super().write(*args)

    @classmethod
    @ModelView.button
    @guarded_transition('done')
    def done(cls, reminders):
        cls.write(reminders, stamp('done'))

    @classmethod
    @ModelView.button
    @guarded_transition('open')
    def reopen(cls, reminders):
        cls.write(reminders, unstamp('done'))

    @classmethod
    def generate(cls):
        """Create the reminders due by today for every company: visits due
        within the configured days, care dates within their days ahead, new
        customers, prospects to follow up, customer data to review and the
        festivals within their days ahead; a reminder already made is not
        made again"""
        pool = Pool()
        Company = pool.get('company.company')
        Configuration = pool.get('crm.configuration')
        date = today()
        vlist = []
        for company in Company.search([]):
            with Transaction().set_context(company=company.id):
                config = Configuration(1)
                vlist.extend(cls._visit_reminders(company, date,
                        config.get_multivalue('visit_reminder_days',
                            company=company.id) or 0))
                vlist.extend(cls._care_date_reminders(company, date))
                vlist.extend(cls._new_customer_reminders(company, date,
                        config.get_multivalue('new_customer_days',
                            company=company.id) or 0))
                vlist.extend(cls._prospect_reminders(company, date))
                vlist.extend(cls._data_review_reminders(company, date,
                        config.get_multivalue('visit_reminder_days',
                            company=company.id) or 0))
                vlist.extend(cls._festival_reminders(company, date))
        existing = cls._existing_keys(vlist)
        new, seen = [], set()
        for values in vlist:
            key = (values['company'], values['key'])
            if key not in existing and key not in seen:
                seen.add(key)
                new.append(values)
        # the scheduled action's work, whoever starts it
        with workflow(), without_check_access():
            return cls.create(new)

    @classmethod
    def _existing_keys(cls, vlist):
        """Return the (company, key) of vlist that have a reminder, read by
        slices of keys: a festival gives as many keys as customers"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        existing = set()
        for company_id in {v['company'] for v in vlist}:
            keys = sorted({
                    v['key'] for v in vlist if v['company'] == company_id})
            for sub_keys in grouped_slice(keys, backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.select(table.key,
                        where=(table.company == company_id)
                        & table.key.in_(list(sub_keys))))
                existing.update((company_id, k) for k, in cursor)
        return existing

    @classmethod
    def _visit_reminders(cls, company, date, days):
        Compliance = Pool().get('crm.visit.compliance')
        result = []
        for row in Compliance.search([('company', '=', company.id)]):
            due = row.next_due or date
            remind = due - dt.timedelta(days=days)
            if remind > date:
                continue
            result.append({
                    'company': company.id,
                    'party': row.party.id,
                    'kind': 'visit',
                    'level': row.level,
                    'due_date': due,
                    'remind_date': remind,
                    'employee': row.responsible.id
                    if row.responsible else None,
                    'key': 'visit:%s:%s:%s' % (
                        row.party.id, row.level, due.isoformat()),
                    })
        return result

    @classmethod
    def _care_date_reminders(cls, company, date):
        CareDate = Pool().get('crm.care_date')
        result = []
        for care_date in CareDate.search([('company', '=', company.id)]):
            occurrence = next_occurrence(
                care_date.date, care_date.recurring, date)
            if occurrence is None:
                continue
            remind = occurrence - dt.timedelta(days=care_date.remind_days)
            if remind > date:
                continue
            manager = care_date.party.crm_account_manager
            result.append({
                    'company': company.id,
                    'party': care_date.party.id,
                    'kind': 'care_date',
                    'care_date': care_date.id,
                    'due_date': occurrence,
                    'remind_date': remind,
                    'employee': manager.id if manager else None,
                    'key': 'care:%s:%s' % (
                        care_date.id, occurrence.isoformat()),
                    })
        return result

    @classmethod
    def _new_customer_reminders(cls, company, date, days):
        """Customers created without a tier, or with a first sale, in the
        last days get one follow-up reminder"""
        pool = Pool()
        Party = pool.get('party.party')
        Summary = pool.get('crm.sales.summary')
        Employee = pool.get('company.employee')
        Company = pool.get('company.company')
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        summary = Summary.__table__()
        employee = Employee.__table__()
        company_table = Company.__table__()
        since = date - dt.timedelta(days=days)

        first_sale = summary.select(summary.party,
            where=(summary.company == company.id) & (summary.party != Null),
            group_by=[summary.party],
            having=(Min(summary.month) >= since.replace(day=1))
            & (Min(summary.month) <= date))
        created = party.select(party.id,
            where=(party.crm_tier == Null)
            & (party.create_date >= dt.datetime.combine(
                    since, dt.time()))
            & (party.create_date < dt.datetime.combine(
                    date + dt.timedelta(days=1), dt.time()))
            & ~party.id.in_(employee.select(employee.party))
            & ~party.id.in_(company_table.select(company_table.party)))
        cursor.execute(*first_sale)
        ids = {p for p, in cursor}
        cursor.execute(*created)
        ids.update(p for p, in cursor)
        result = []
        for customer in Party.browse(sorted(ids)):
            if not customer.active:
                continue
            manager = customer.crm_account_manager
            result.append({
                    'company': company.id,
                    'party': customer.id,
                    'kind': 'new_customer',
                    'due_date': date,
                    'remind_date': date,
                    'employee': manager.id if manager else None,
                    'key': 'new:%s' % customer.id,
                    })
        return result

    @classmethod
    def _prospect_reminders(cls, company, date):
        """Prospects are followed up as soon as possible: one reminder for
        each prospect that has not bought, from the day it was marked"""
        pool = Pool()
        Party = pool.get('party.party')
        Summary = pool.get('crm.sales.summary')
        bought = {s.party.id for s in Summary.search([
                    ('company', '=', company.id),
                    ('party.crm_prospect', '=', True),
                    ])}
        result = []
        for prospect in Party.search([('crm_prospect', '=', True)]):
            if prospect.id in bought:
                continue
            since = min(prospect.crm_prospect_date or date, date)
            manager = prospect.crm_account_manager
            result.append({
                    'company': company.id,
                    'party': prospect.id,
                    'kind': 'prospect',
                    'due_date': since,
                    'remind_date': since,
                    'employee': manager.id if manager else None,
                    'key': 'prospect:%s:%s' % (prospect.id, since.isoformat()),
                    })
        return result

    @classmethod
    def _data_review_reminders(cls, company, date, days):
        """The customers whose base data review falls due within days, by
        the review interval of their tier"""
        Party = Pool().get('party.party')
        result = []
        for customer in Party.search([
                    ('crm_tier.company', '=', company.id),
                    ('crm_review_due', '<=', date + dt.timedelta(days=days)),
                    ]):
            due = customer.crm_review_due
            manager = customer.crm_account_manager
            result.append({
                    'company': company.id,
                    'party': customer.id,
                    'kind': 'data_review',
                    'due_date': due,
                    'remind_date': min(due - dt.timedelta(days=days), date),
                    'employee': manager.id if manager else None,
                    'key': 'review:%s:%s' % (customer.id, due.isoformat()),
                    })
        return result

    @classmethod
    def _festival_reminders(cls, company, date):
        """The strategic and key customers of company get a reminder for
        their account manager of each festival within its days ahead"""
        pool = Pool()
        Festival = pool.get('crm.festival')
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        Employee = pool.get('company.employee')
        festivals = [f for f in Festival.search([
                    ('company', '=', company.id),
                    ('date', '>=', date),
                    ])
            if f.date - dt.timedelta(days=f.remind_days) <= date]
        if not festivals:
            return []
        party = Party.__table__()
        tier = Tier.__table__()
        employee = Employee.__table__()
        cursor = Transaction().connection.cursor()
        # the account manager, when an employee of the company
        cursor.execute(*party.join(tier,
                condition=party.crm_tier == tier.id
                ).join(employee, 'LEFT',
                condition=(employee.id == party.crm_account_manager)
                & (employee.company == company.id)
                ).select(
                party.id, employee.id,
                where=(tier.company == company.id)
                & tier.code.in_(FESTIVAL_TIERS)
                & (party.active == Literal(True)),
                order_by=[party.id]))
        customers = list(cursor)
        return [{
                'company': company.id,
                'party': party_id,
                'kind': 'festival',
                'festival': festival.id,
                'due_date': festival.date,
                'remind_date': festival.date - dt.timedelta(
                    days=festival.remind_days),
                'employee': manager_id,
                'key': 'festival:%s:%s' % (festival.id, party_id),
                }
            for festival in festivals for party_id, manager_id in customers]
