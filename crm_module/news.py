"""What is learned about a customer (its news, its projects, its
industry), some of it for special attention, and the tabs of the party
form that show a customer's news and events."""
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from .clock import today
from .common import CustomerRecNameMixin
from .event import customer_company
from .exceptions import NewsError
from .workflow import workflow

KINDS = [
    ('company', "Company News"),
    ('project', "Project News"),
    ('industry', "Industry Situation"),
    ]


class News(CustomerRecNameMixin, ModelSQL, ModelView):
    "A piece of news about a customer, which its account manager is told"
    __name__ = 'crm.party.news'
    __string__ = "Customer News"
    _rec_name = 'title'
    _rec_name_fields = ('title',)

    company = fields.Many2One('company.company', "Company", required=True)
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='CASCADE',
        states={
            # its account manager was told: news of another customer is
            # other news
            'readonly': Eval('id', -1) >= 0,
            },
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date("Date", required=True)
    kind = fields.Selection(KINDS, "Kind", required=True)
    kind_string = kind.translated('kind')
    source = fields.Char(
        "Source", help="Where the news comes from: a newspaper, a website, "
        "a conversation.")
    title = fields.Char("Title", required=True)
    text = fields.Text("Text")
    special_attention = fields.Boolean(
        "Special Attention",
        help="The news asks for the special attention of the account team.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.party, Index.Equality())),
                Index(t, (t.company, Index.Equality()),
                    (t.date, Index.Range(order='DESC'))),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return today()

    @classmethod
    def default_kind(cls):
        return 'company'

    @classmethod
    def default_special_attention(cls):
        return False

    @classmethod
    def create(cls, vlist):
        news = super().create(vlist)
        cls.notify(news)
        return news

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        for news, values in zip(actions, actions, strict=False):
            if 'party' in values:
                for item in news:
                    if item.party.id != values['party']:
                        raise NewsError(gettext(
                                'crm_module.msg_news_party',
                                news=item.title,
                                party=item.party.rec_name))
        super().write(*args)
        actions = iter(args)
        dated = [n for news, values in zip(actions, actions, strict=False)
            if 'date' in values for n in news]
        if dated:
            cls.update_notices(dated)

    @property
    def account_manager(self):
        "The customer's account manager when an employee of the company"
        manager = self.party.crm_account_manager
        if manager and manager.company == self.company:
            return manager

    @classmethod
    def notify(cls, news):
        """Tell the account manager of each customer of its news with a
        reminder in the ERP, on the day of the news"""
        Reminder = Pool().get('crm.reminder')
        vlist = []
        for item in news:
            manager = item.account_manager
            vlist.append({
                    'company': item.company.id,
                    'party': item.party.id,
                    'kind': 'news',
                    'news': item.id,
                    'due_date': item.date,
                    'remind_date': item.date,
                    'employee': manager.id if manager else None,
                    'key': 'news:%s' % item.id,
                    })
        # reminders are made by the server only, whoever tells the news
        with workflow(), without_check_access():
            return Reminder.create(vlist)

    @classmethod
    def update_notices(cls, news):
        "Give the open notices of news the day of their news"
        Reminder = Pool().get('crm.reminder')
        to_write = []
        with without_check_access():
            for item in cls.browse(news):
                notices = Reminder.search([
                        ('news', '=', item.id),
                        ('state', '=', 'open'),
                        ])
                if notices:
                    to_write.extend((notices, {
                                'due_date': item.date,
                                'remind_date': item.date,
                                }))
            if to_write:
                with workflow():
                    Reminder.write(*to_write)

    @classmethod
    def validate_fields(cls, news, field_names):
        super().validate_fields(news, field_names)
        if field_names & {'company', 'party'}:
            for item in news:
                company = customer_company(item.party)
                if company and company != item.company:
                    raise NewsError(gettext(
                            'crm_module.msg_news_company',
                            news=item.title,
                            party=item.party.rec_name,
                            company=item.company.rec_name))
        if 'date' in field_names:
            date = today()
            for item in news:
                if item.date > date:
                    raise NewsError(gettext(
                            'crm_module.msg_news_future',
                            news=item.title,
                            party=item.party.rec_name,
                            date=item.date))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_news = fields.One2Many(
        'crm.party.news', 'party', "News",
        help="What is learned about the customer, newest first.")
    crm_event_guests = fields.One2Many(
        'crm.event.guest', 'party', "Events",
        filter=[('invited', '=', True)], readonly=True,
        help="The company events the customer was invited to.")

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        # news and invitations are about the customer, not its copy
        for name in ['crm_news', 'crm_event_guests']:
            default.setdefault(name, None)
        return super().copy(parties, default=default)
