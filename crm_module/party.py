from sql import Null
from sql.aggregate import Count

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .classification import change_classification
from .clock import add_interval, today
from .evaluation import ABC_CLASSES, AMOUNT, PERCENT
from .exceptions import ClassificationError, SponsorError
from .tier import STANDINGS
from .workflow import in_workflow

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
    crm_industry_standing = fields.Selection(
        STANDINGS, "Industry Standing", readonly=True,
        help="The size and brand standing of the customer in its industry, "
        "which tier criteria can ask; changed by a CRM manager with a "
        "reason (Change Classification).")
    crm_qualifications = fields.One2Many(
        'crm.party.qualification', 'party', "Qualifications", readonly=True,
        help="What a CRM manager recognised in the customer (designated "
        "strategic, long-term cooperation...), which tier criteria can ask.")
    crm_classification_history = fields.One2Many(
        'crm.party.classification', 'party', "Classification History",
        readonly=True)
    crm_prospect = fields.Boolean(
        "Prospect",
        help="A party with intent or potential value that has not bought "
        "yet: the evaluation gives it the prospects' tier and the account "
        "manager a follow-up reminder. Parties that never bought and are "
        "not prospects get no tier.")
    crm_prospect_source = fields.Char(
        "Prospect Source",
        states={
            'invisible': ~Eval('crm_prospect'),
            },
        help="Where the prospect came from (fair, referral, web...).")
    crm_prospect_date = fields.Date(
        "Prospect Since", readonly=True,
        states={
            'invisible': ~Eval('crm_prospect'),
            })
    crm_prospect_by = fields.Many2One(
        'res.user', "Marked By", readonly=True,
        states={
            'invisible': ~Eval('crm_prospect'),
            })
    crm_department = fields.Many2One(
        'crm.department', "Owning Department", ondelete='RESTRICT',
        help="The business department that manages the customer and keeps "
        "its base data up to date.")
    crm_reviewed_on = fields.Date(
        "Data Last Reviewed",
        help="The day the customer's base data was last checked; a reminder "
        "tells the account manager when the tier's review interval has "
        "passed.")
    crm_review_due = fields.Function(
        fields.Date("Data Review Due"), 'get_crm_review_due',
        searcher='search_crm_review_due')
    crm_account_manager = fields.Many2One(
        'company.employee', "Key Account Manager",
        help="The employee responsible for the whole relationship.")
    crm_executive_sponsor = fields.Many2One(
        'company.employee', "Executive Sponsor",
        # The rules are checked by check_executive_sponsor, with messages
        # that say which one is broken.
        help="The member of the company's management who meets the "
        "customer's top management and answers for executive visits.")
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
            help="The last contact of the current company with the customer: "
            "a visit in any way (phone and e-mail included), a complaint "
            "or a sale."),
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
        fields.Boolean(
            "Resident Representative Required",
            help="A customer of the highest tier whose annual sales in the "
            "last applied evaluation reach the resident representative "
            "threshold (50,000,000 and above by default)."),
        'get_crm_evaluation_figure', searcher='search_crm_resident_required')
    crm_lapsed = fields.Function(
        fields.Boolean(
            "Lapsed",
            help="A former customer without sales in the period of the last "
            "applied evaluation: to be contacted again."),
        'get_crm_evaluation_figure', searcher='search_crm_evaluation_flag')
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
        cls._buttons.update({
                'crm_classify': {
                    'icon': 'tryton-edit',
                    },
                'crm_mark_reviewed': {
                    'icon': 'tryton-ok',
                    },
                })

    @classmethod
    def default_crm_industry_standing(cls):
        return 'other'

    @classmethod
    def default_crm_prospect(cls):
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
        if name == 'crm_lapsed':
            return line.lapsed
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
        # The ids of crm.last_contact are those of the parties.
        dormant = LastContact.search(
            LastContact.dormant_domain(), query=True)
        return [('id', 'in' if wanted else 'not in', dormant)]

    def get_crm_big_customer(self, name):
        return bool(self.crm_high_standing or (
                self.crm_evaluation_line
                and self.crm_evaluation_line.big_customer))

    @classmethod
    def search_crm_evaluation_flag(cls, name, clause):
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        field = name[len('crm_'):]
        domain = [('crm_evaluation_line.' + field, '=', True)]
        return domain if wanted else ['NOT', domain]

    @classmethod
    def search_crm_resident_required(cls, name, clause):
        pool = Pool()
        Line = pool.get('crm.evaluation.line')
        Evaluation = pool.get('crm.evaluation')
        Tier = pool.get('crm.tier')
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        party = cls.__table__()
        line = Line.__table__()
        evaluation = Evaluation.__table__()
        highest = []
        for company in {t.company for t in Tier.search([])}:
            tiers, _ = Tier.ladder(company)
            if len(tiers) > 1:
                highest.append(tiers[0].id)
        if not highest:
            return [('id', '=', -1)] if wanted else []
        query = party.join(line,
            condition=party.crm_evaluation_line == line.id).join(evaluation,
            condition=line.evaluation == evaluation.id).select(party.id,
            where=party.crm_tier.in_(highest)
            & (evaluation.resident_threshold != Null)
            & (line.revenue >= evaluation.resident_threshold))
        return [('id', 'in' if wanted else 'not in', query)]

    @classmethod
    def search_crm_review_due(cls, name, clause):
        "Search the parties whose data review is due on the clause's date"
        _, operator, value = clause
        due = [p.id for p in cls.search([('crm_tier', '!=', None)])
            if p.crm_review_due and _compare(operator, p.crm_review_due,
                value)]
        return [('id', 'in', due)]

    def get_crm_review_due(self, name):
        months = self.crm_tier.review_months if self.crm_tier else None
        if not months:
            return None
        since = self.crm_reviewed_on or self.crm_tier_since
        if since is None:
            return None
        return add_interval(since, months, 'months')

    @classmethod
    def change_classification(cls, party, standing, qualifications, date,
            reason):
        """Give party the industry standing and the qualifications of the
        company of the context, with the reason; CRM managers only"""
        Company = Pool().get('company.company')
        company = Company(Transaction().context['company'])
        change_classification(
            party, company, standing, qualifications, date, reason)

    @classmethod
    @ModelView.button_action('crm_module.wizard_party_classify')
    def crm_classify(cls, parties):
        pass

    @classmethod
    @ModelView.button
    def crm_mark_reviewed(cls, parties):
        cls.write(parties, {'crm_reviewed_on': today()})

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        for name in ['crm_tier', 'crm_tier_since', 'crm_evaluation_line',
                'crm_tier_history', 'crm_qualifications',
                'crm_classification_history', 'crm_industry_standing',
                'crm_prospect', 'crm_prospect_date', 'crm_prospect_by',
                'crm_prospect_source', 'crm_reviewed_on',
                'crm_complaints', 'crm_visits', 'crm_care_dates',
                'crm_plans']:
            default.setdefault(name, None)
        return super().copy(parties, default=default)

    @classmethod
    def _check_classification(cls, values, create=False):
        "Refuse a plain write of what only Change Classification sets"
        standing = values.get('crm_industry_standing', 'other')
        if create and standing in {None, 'other'}:
            return
        if 'crm_industry_standing' in values and not in_workflow():
            raise ClassificationError(gettext(
                    'crm_module.msg_classification_wizard_only'))

    @classmethod
    def preprocess_values(cls, mode, values):
        "Say who marked a prospect and when (after the field access check)"
        values = super().preprocess_values(mode, values)
        if values.get('crm_prospect'):
            values.setdefault('crm_prospect_date', today())
            values.setdefault('crm_prospect_by', Transaction().user or None)
        elif 'crm_prospect' in values:
            values.update(crm_prospect_date=None, crm_prospect_by=None)
        return values

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        if field_names & {'crm_executive_sponsor', 'crm_tier'}:
            cls.check_executive_sponsor(parties)

    @classmethod
    def check_executive_sponsor(cls, parties):
        """Refuse an executive sponsor outside the management of the
        customer's company (its tier's, or the user's company)"""
        context_company = Transaction().context.get('company')
        for party in parties:
            sponsor = party.crm_executive_sponsor
            if not sponsor:
                continue
            company = (party.crm_tier.company.id if party.crm_tier
                else context_company)
            if company and sponsor.company.id != company:
                raise SponsorError(gettext(
                        'crm_module.msg_party_sponsor_company',
                        party=party.rec_name, employee=sponsor.rec_name,
                        company=sponsor.company.rec_name))
            if not sponsor.crm_management:
                raise SponsorError(gettext(
                        'crm_module.msg_party_sponsor_management',
                        party=party.rec_name, employee=sponsor.rec_name))

    @classmethod
    def create(cls, vlist):
        for values in vlist:
            cls._check_classification(values, create=True)
        parties = super().create(vlist)
        if any(v.get('code') for v in vlist) or any(p.code for p in parties):
            Pool().get('crm.sales.summary').match_unmatched()
        return parties

    @classmethod
    def write(cls, *args):
        for values in args[1::2]:
            cls._check_classification(values)
        super().write(*args)
        if any('code' in v for v in args[1::2]):
            Pool().get('crm.sales.summary').match_unmatched()


class Employee(metaclass=PoolMeta):
    __name__ = 'company.employee'

    crm_management = fields.Boolean(
        "Company Management",
        help="A member of the company's top management, who can be the "
        "executive sponsor of customers.")
    crm_department = fields.Many2One(
        'crm.department', "CRM Department", ondelete='SET NULL',
        domain=[('company', '=', Eval('company', -1))],
        help="The department the employee works in: the receiving "
        "department's employees call the customers of complaints back.")

    @classmethod
    def default_crm_management(cls):
        return False


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




def _compare(operator, left, right):
    "Compare two dates as a domain's operator does"
    if right is None:
        return False
    return {
        '<': left < right, '<=': left <= right, '>': left > right,
        '>=': left >= right, '=': left == right, '!=': left != right,
        }[operator]
