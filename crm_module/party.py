from sql import Null
from sql.aggregate import Count

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .evaluation import ABC_CLASSES, AMOUNT, PERCENT
from .exceptions import PartyDesignationError

# Figures shown on the party come from the line of the last applied
# evaluation: (party field, line field, field class, extra arguments).
EVALUATION_FIGURES = [
    ('crm_revenue', 'revenue', fields.Numeric, "Revenue", {'digits': AMOUNT}),
    ('crm_gross_margin', 'gross_margin', fields.Numeric, "Gross Margin",
        {'digits': AMOUNT}),
    ('crm_margin_rate', 'margin_rate', fields.Numeric, "Margin %",
        {'digits': PERCENT}),
    ('crm_share', 'share', fields.Numeric, "Share %", {'digits': PERCENT}),
    ('crm_rank', 'rank', fields.Integer, "Rank", {}),
    ('crm_cumulative_share', 'cumulative_share', fields.Numeric,
        "Cumulative Share %", {'digits': PERCENT}),
    ('crm_growth', 'growth', fields.Numeric, "Growth %", {'digits': PERCENT}),
    ('crm_order_count', 'order_count', fields.Integer, "Sales Lines", {}),
    ('crm_last_sale_date', 'last_sale_date', fields.Date, "Last Sale", {}),
    ]


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    crm_tier = fields.Many2One(
        'crm.tier', "Customer Tier", readonly=True, ondelete='RESTRICT',
        help="Set by applying an approved evaluation.")
    crm_tier_since = fields.Date("Tier Since", readonly=True)
    crm_strategic = fields.Boolean(
        "Designated Strategic",
        help="Designated by management as a long-term partner of strategic "
        "importance; evaluations never demote such a customer.")
    crm_strategic_reason = fields.Text(
        "Designation Reason",
        states={
            'invisible': ~Eval('crm_strategic'),
            'required': Bool(Eval('crm_strategic')),
            })
    crm_account_manager = fields.Many2One(
        'company.employee', "Key Account Manager",
        help="The employee responsible for the whole relationship.")
    crm_resident_representative = fields.Many2One(
        'company.employee', "Resident Representative",
        help="Stationed at strategic customers with large annual sales.")
    crm_technical_lead = fields.Many2One(
        'company.employee', "Technical Lead",
        help="The employee answering for technical exchanges.")
    crm_quality_engineer = fields.Many2One(
        'company.employee', "Quality Engineer",
        help="The employee answering for quality exchanges.")
    crm_after_sales = fields.Many2One(
        'company.employee', "After-Sales Contact",
        help="The employee answering for after-sales service.")
    crm_visits = fields.One2Many('crm.visit', 'party', "Visits")
    crm_visit_compliance = fields.One2Many(
        'crm.visit.compliance', 'party', "Visit Compliance", readonly=True)
    crm_care_dates = fields.One2Many(
        'crm.care_date', 'party', "Care Dates")
    crm_plans = fields.One2Many(
        'crm.account.plan', 'party', "Account Plans", readonly=True)
    crm_last_contact = fields.Function(
        fields.Date(
            "Last Contact",
            help="The last visit or sale of the current company."),
        'get_crm_last_contact')
    crm_dormant = fields.Function(
        fields.Boolean(
            "Dormant",
            help="No contact for the configured number of days: to be "
            "contacted again."),
        'get_crm_last_contact', searcher='search_crm_dormant')
    crm_high_standing = fields.Boolean(
        "High Industry Standing",
        help="Makes the customer a big customer whatever its figures.")
    crm_high_standing_reason = fields.Char(
        "Standing Reason",
        states={
            'invisible': ~Eval('crm_high_standing'),
            'required': Bool(Eval('crm_high_standing')),
            })
    crm_big_customer = fields.Function(
        fields.Boolean(
            "Big Customer",
            help="High industry standing, or an average annual contribution "
            "above the big customer threshold in the last evaluation."),
        'get_crm_big_customer')
    crm_resident_required = fields.Function(
        fields.Boolean("Resident Representative Required"),
        'get_crm_evaluation_figure')
    crm_evaluation_line = fields.Many2One(
        'crm.evaluation.line', "Last Evaluation", readonly=True,
        ondelete='SET NULL')
    crm_evaluation = fields.Function(
        fields.Many2One('crm.evaluation', "Evaluation"),
        'get_crm_evaluation_figure')
    crm_abc_class = fields.Function(
        fields.Selection(ABC_CLASSES, "ABC Class"),
        'get_crm_evaluation_figure')
    crm_tier_history = fields.One2Many(
        'crm.tier.history', 'party', "Tier History", readonly=True)
    crm_complaints = fields.One2Many(
        'crm.complaint', 'party', "Complaints", readonly=True)
    crm_complaint_count = fields.Function(
        fields.Integer("Complaints"), 'get_crm_complaint_count')

    for _name, _line_field, _field, _string, _kwargs in EVALUATION_FIGURES:
        locals()[_name] = fields.Function(
            _field(_string, **_kwargs), 'get_crm_evaluation_figure')
    del _name, _line_field, _field, _string, _kwargs

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # Deleting an evaluation's lines (recompute, delete) makes
        # PostgreSQL look up the parties pointing at each line to set them to
        # NULL: without an index that is a scan of the parties per line.
        cls._sql_indexes.add(Index(t,
                (t.crm_evaluation_line, Index.Equality()),
                where=t.crm_evaluation_line != Null))

    @classmethod
    def default_crm_strategic(cls):
        return False

    @classmethod
    def default_crm_high_standing(cls):
        return False

    def get_crm_evaluation_figure(self, name):
        line = self.crm_evaluation_line
        if not line:
            return None
        if name == 'crm_evaluation':
            return line.evaluation.id
        if name == 'crm_resident_required':
            return line.resident_required
        field = {n: f for n, f, *_ in EVALUATION_FIGURES}.get(
            name, name[len('crm_'):])
        return getattr(line, field)

    @classmethod
    def get_crm_complaint_count(cls, parties, name):
        pool = Pool()
        Complaint = pool.get('crm.complaint')
        complaint = Complaint.__table__()
        cursor = Transaction().connection.cursor()
        counts = {p.id: 0 for p in parties}
        for sub_ids in grouped_slice(counts, backend.MAX_QUERY_PARAMS):
            cursor.execute(*complaint.select(
                    complaint.party, Count(complaint.id),
                    where=complaint.party.in_(list(sub_ids))
                    & (complaint.state != 'cancelled'),
                    group_by=[complaint.party]))
            counts.update(cursor)
        return counts

    @classmethod
    def get_crm_last_contact(cls, parties, names):
        LastContact = Pool().get('crm.last_contact')
        contacts = {c.id: c for c in LastContact.browse(
                [c.id for c in LastContact.search([
                            ('party', 'in', [p.id for p in parties]),
                            ])])}
        result = {n: {} for n in names}
        for party in parties:
            contact = contacts.get(party.id)
            if 'crm_last_contact' in names:
                result['crm_last_contact'][party.id] = (
                    contact.last_contact if contact else None)
            if 'crm_dormant' in names:
                result['crm_dormant'][party.id] = bool(
                    contact and contact.dormant)
        return result

    @classmethod
    def search_crm_dormant(cls, name, clause):
        LastContact = Pool().get('crm.last_contact')
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        dormant = [c.party.id for c in LastContact.search(
                LastContact.dormant_domain())]
        return [('id', 'in' if wanted else 'not in', dormant)]

    def get_crm_big_customer(self, name):
        return bool(self.crm_high_standing or (
                self.crm_evaluation_line
                and self.crm_evaluation_line.big_customer))

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        if field_names & {'crm_strategic', 'crm_strategic_reason'}:
            for party in parties:
                if (party.crm_strategic
                        and not (party.crm_strategic_reason or '').strip()):
                    raise PartyDesignationError(gettext(
                            'crm_module.msg_party_strategic_reason',
                            party=party.rec_name))

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        for name in ['crm_tier', 'crm_tier_since', 'crm_evaluation_line',
                'crm_tier_history', 'crm_strategic', 'crm_strategic_reason',
                'crm_complaints', 'crm_visits', 'crm_care_dates',
                'crm_plans']:
            default.setdefault(name, None)
        return super().copy(parties, default=default)

    @classmethod
    def create(cls, vlist):
        parties = super().create(vlist)
        if any(v.get('code') for v in vlist) or any(p.code for p in parties):
            Pool().get('crm.sales.summary').match_unmatched()
        return parties

    @classmethod
    def write(cls, *args):
        super().write(*args)
        if any('code' in v for v in args[1::2]):
            Pool().get('crm.sales.summary').match_unmatched()


class PartyIdentifier(metaclass=PoolMeta):
    __name__ = 'party.identifier'

    crm_source = fields.Char(
        "Sales Source",
        help="The outside system that names the party with this code when "
        "it sends sales.")

    @classmethod
    def create(cls, vlist):
        identifiers = super().create(vlist)
        if any(v.get('crm_source') for v in vlist):
            Pool().get('crm.sales.summary').match_unmatched()
        return identifiers

    @classmethod
    def write(cls, *args):
        super().write(*args)
        if any({'code', 'crm_source'} & set(v) for v in args[1::2]):
            Pool().get('crm.sales.summary').match_unmatched()


