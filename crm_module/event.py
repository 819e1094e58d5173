"""The company's own events to which customers are invited, with who was
invited and who came."""
from sql.aggregate import Sum
from sql.conditionals import Case

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .clock import today
from .common import CustomerRecNameMixin
from .exceptions import EventGuestError


def customer_company(party):
    """Return the company whose customer party is (its tier's), or None:
    read whatever the user's record rules hide, another company's tier
    among them"""
    with without_check_access():
        party = party.__class__(party.id)
        return party.crm_tier.company if party.crm_tier else None


class Event(ModelSQL, ModelView):
    "An event of the company to which customers are invited"
    __name__ = 'crm.event'
    __string__ = "Company Event"

    company = fields.Many2One('company.company', "Company", required=True)
    name = fields.Char("Name", required=True)
    date = fields.Date("Date", required=True)
    place = fields.Char("Place")
    description = fields.Text("Description")
    guests = fields.One2Many('crm.event.guest', 'event', "Guests")
    invited_count = fields.Function(
        fields.Integer("Invited"), 'get_counts')
    attended_count = fields.Function(
        fields.Integer("Attended"), 'get_counts')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.company, Index.Equality()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return today()

    def get_rec_name(self, name):
        return '%s %s' % (self.name, self.date.isoformat())

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('name', *clause[1:])]

    @classmethod
    def get_counts(cls, events, names):
        "Count the guests invited and the guests who came, in one query"
        Guest = Pool().get('crm.event.guest')
        guest = Guest.__table__()
        cursor = Transaction().connection.cursor()
        result = {n: dict.fromkeys((e.id for e in events), 0) for n in names}
        for sub_ids in grouped_slice(
                [e.id for e in events], backend.MAX_QUERY_PARAMS):
            cursor.execute(*guest.select(
                    guest.event,
                    Sum(Case((guest.invited, 1), else_=0)),
                    Sum(Case((guest.attended, 1), else_=0)),
                    where=guest.event.in_(list(sub_ids)),
                    group_by=[guest.event]))
            for event_id, invited, attended in cursor:
                if 'invited_count' in result:
                    result['invited_count'][event_id] = int(invited or 0)
                if 'attended_count' in result:
                    result['attended_count'][event_id] = int(attended or 0)
        return result

    @classmethod
    def copy(cls, events, default=None):
        default = default.copy() if default is not None else {}
        # a copy is another event: nobody is invited yet
        default.setdefault('guests', None)
        return super().copy(events, default=default)

    @classmethod
    def validate_fields(cls, events, field_names):
        super().validate_fields(events, field_names)
        if field_names & {'company', 'date'}:
            # the guests keep being customers of the company who could come
            Pool().get('crm.event.guest').check_guests(
                [g for e in events for g in e.guests])


class EventGuest(CustomerRecNameMixin, ModelSQL, ModelView):
    "A customer invited to a company event and whether it came"
    __name__ = 'crm.event.guest'
    __string__ = "Event Guest"

    event = fields.Many2One(
        'crm.event', "Event", required=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    event_date = fields.Function(
        fields.Date("Date"), 'on_change_with_event_date')
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    contact_name = fields.Char(
        "Contact", help="The customer's person invited to the event.")
    invited = fields.Boolean("Invited")
    attended = fields.Boolean(
        "Attended", help="Only an invited customer can have attended.")
    notes = fields.Text("Notes")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.event, Index.Equality())),
                Index(t, (t.party, Index.Equality())),
                })
        cls._sql_constraints += [
            ('event_party_uniq', Unique(t, t.event, t.party),
                'crm_module.msg_event_guest_unique'),
            ]
        cls._order = [('event.date', 'DESC'), ('id', 'ASC')]

    @classmethod
    def default_invited(cls):
        return True

    @classmethod
    def default_attended(cls):
        return False

    @fields.depends('event', '_parent_event.company')
    def on_change_with_company(self, name=None):
        return self.event.company if self.event else None

    @classmethod
    def search_company(cls, name, clause):
        return [('event.' + clause[0], *clause[1:])]

    @fields.depends('event', '_parent_event.date')
    def on_change_with_event_date(self, name=None):
        return self.event.date if self.event else None

    def get_rec_name(self, name):
        return '%s: %s' % (self.event.rec_name, self.party.rec_name)

    @classmethod
    def validate_fields(cls, guests, field_names):
        super().validate_fields(guests, field_names)
        if field_names & {'event', 'party', 'invited', 'attended'}:
            cls.check_guests(guests)

    @classmethod
    def check_guests(cls, guests):
        """Refuse a guest who is the customer of another company (by its
        tier), or who came uninvited or to an event still to come"""
        date = today()
        for guest in guests:
            event, party = guest.event, guest.party
            company = customer_company(party)
            if company and company != event.company:
                raise EventGuestError(gettext(
                        'crm_module.msg_event_guest_company',
                        party=party.rec_name,
                        event=event.rec_name,
                        company=event.company.rec_name))
            if guest.attended and not guest.invited:
                raise EventGuestError(gettext(
                        'crm_module.msg_event_guest_not_invited',
                        party=party.rec_name,
                        event=event.rec_name))
            if guest.attended and event.date > date:
                raise EventGuestError(gettext(
                        'crm_module.msg_event_guest_future',
                        party=party.rec_name,
                        event=event.rec_name,
                        date=event.date))
