import contextlib
import contextvars
import datetime as dt

from sql import Null

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields,
    sequence_ordered)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import CodeNameMixin, CustomerRecNameMixin
from .presets import DEFAULT_PRESET, PRESETS
from .exceptions import TierInUseError, TierValidationError
from .workflow import WorkflowRecordMixin
import itertools


# The satisfaction below which the customer of a complaint is not satisfied
# after its return visit (product default, on the scale of 1 to 5)
DEFAULT_SATISFACTION_TARGET = 3

COMBINATIONS = [
    ('all', "All Criteria"),
    ('any', "Any Criterion"),
    ]
CRITERION_KINDS = [
    ('measure', "Measure"),
    ('standing', "Industry Standing"),
    ('qualification', "Qualification"),
    ]
# (code, string, is a share of the company total)
CRITERION_MEASURES = [
    ('revenue', "Annual Revenue"),
    ('margin', "Gross Margin"),
    ('revenue_share', "Share of Company Revenue %"),
    ('margin_share', "Share of Company Margin %"),
    ]
SHARE_MEASURES = {'revenue_share', 'margin_share'}
OPERATORS = [
    ('>=', ">="),
    ('>', ">"),
    ]
# The industry standings, highest first; "at least medium" includes leading.
STANDINGS = [
    ('leading', "Leading"),
    ('medium', "Medium"),
    ('other', "Other"),
    ]
STANDING_RANK = {code: rank for rank, (code, _) in enumerate(STANDINGS)}
_ladder_deferred = contextvars.ContextVar('crm_ladder_deferred', default=False)


@contextlib.contextmanager
def ladder_checked_after(companies):
    """Check the tier ladders of companies (a callable, called at the end)
    once every write of the block is done, not between them: a tier saved
    with its criteria, a criterion deleted with its tier, a preset that
    rewrites all the tiers. Nested blocks leave the check to the outer one.
    """
    if _ladder_deferred.get():
        yield
        return
    token = _ladder_deferred.set(True)
    try:
        yield
    finally:
        _ladder_deferred.reset(token)
    Tier = Pool().get('crm.tier')
    for company in companies():
        Tier.check_ladder(company)


def rule_text(combination, names):
    "Return the criteria names of a tier's rule joined by and/or, in words"
    if not names:
        return gettext('crm_module.msg_tier_no_criteria')
    separator = gettext(
        'crm_module.msg_tier_criteria_and' if combination == 'all'
        else 'crm_module.msg_tier_criteria_or')
    return separator.join(names)


class Tier(
        CodeNameMixin, sequence_ordered(), DeactivableMixin, ModelSQL,
        ModelView):
    __name__ = 'crm.tier'
    __string__ = "Customer Tier"

    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    code = fields.Char("Code", required=True, strip=True)
    name = fields.Char("Name", required=True, translate=True)
    combination = fields.Selection(
        COMBINATIONS, "Combination", required=True,
        states={
            'invisible': Eval('no_sales', False),
            },
        help="Whether a customer must meet all the criteria of the tier "
        "or any one of them.")
    criteria = fields.One2Many(
        'crm.tier.criterion', 'tier', "Criteria",
        states={
            'invisible': Eval('no_sales', False),
            },
        help="The tiers are tried highest first: a customer gets the first "
        "tier whose criteria it meets. The lowest tier for customers with "
        "sales has no criteria and takes every other customer with sales.")
    no_sales = fields.Boolean(
        "Prospects",
        help="The tier of prospects: parties marked as prospects that have "
        "not bought. Other parties that never bought get no tier.")
    status_report = fields.Boolean(
        "In Monthly Status Report",
        help="Customers of this tier at the end of a month are listed in "
        "the monthly business status report of that month.")
    rule = fields.Function(
        fields.Char("Rule"), 'get_rule')
    review_months = fields.Integer(
        "Data Review Every (Months)",
        help="How often the account manager reviews the base data of a "
        "customer of this tier; empty for never. The shipped 6 months for "
        "strategic and key customers and 12 for the others are the "
        "product's: no rulebook gives a number.")
    satisfaction_target = fields.Integer(
        "Satisfaction Target",
        help="The lowest satisfaction, from 1 to 5, that closes a "
        "complaint of a customer of this tier after its return visit. The "
        "shipped 3 is the product's: the rulebooks only ask that the "
        "customer be satisfied.")
    description = fields.Text("Description", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_company_uniq', Unique(t, t.company, t.code),
                'crm_module.msg_tier_code_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.company, Index.Equality())))

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        created = not table_h.column_exist('status_report')
        review_created = not table_h.column_exist('review_months')
        target_created = not table_h.column_exist('satisfaction_target')
        super().__register__(module)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        if created:
            # Tiers that exist before the flag: report the shipped ones
            # that the report is written for: strategic and key customers
            # (doc/policy.md#monthly-business-status-report).
            cursor.execute(*table.update(
                    [table.status_report], [True],
                    where=table.code.in_(
                        [r[0] for r in PRESETS[DEFAULT_PRESET] if r[6]])))
        if target_created:
            cursor.execute(*table.update(
                    [table.satisfaction_target],
                    [DEFAULT_SATISFACTION_TARGET]))
        if review_created:
            for code, *_, months in PRESETS[DEFAULT_PRESET]:
                cursor.execute(*table.update(
                        [table.review_months], [months],
                        where=table.code == code))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_combination(cls):
        return 'all'

    @classmethod
    def default_status_report(cls):
        return False

    @classmethod
    def default_no_sales(cls):
        return False

    @classmethod
    def default_review_months(cls):
        return 12

    @classmethod
    def default_satisfaction_target(cls):
        return DEFAULT_SATISFACTION_TARGET

    def get_rec_name(self, name):
        return self.name

    @property
    def computed(self):
        "Whether the tier is assigned by computation from the figures"
        return not self.no_sales

    @classmethod
    def create(cls, vlist):
        tiers = []
        with ladder_checked_after(lambda: {t.company for t in tiers}):
            tiers.extend(super().create(vlist))
        return tiers

    @classmethod
    def write(cls, *args):
        tiers = cls.browse([t for records in args[::2] for t in records])
        companies = {t.company for t in tiers}
        with ladder_checked_after(
                lambda: companies | {t.company for t in cls.browse(tiers)}):
            super().write(*args)

    @classmethod
    def validate(cls, tiers):
        super().validate(tiers)
        for tier in tiers:
            if tier.review_months is not None and tier.review_months < 0:
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_review_months',
                        tier=tier.rec_name))
            if (tier.satisfaction_target is not None
                    and not 1 <= tier.satisfaction_target <= 5):
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_satisfaction_target',
                        tier=tier.rec_name,
                        value=tier.satisfaction_target))
            if tier.no_sales and tier.criteria:
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_prospects_criteria',
                        tier=tier.rec_name))

    @classmethod
    def ladder(cls, company):
        """Return the active tiers of company for customers with sales,
        highest first, and the prospects' tier (or None)"""
        tiers = cls.search([
                ('company', '=', company.id),
                ], order=[('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')])
        prospects = [t for t in tiers if t.no_sales]
        return ([t for t in tiers if t.computed],
            prospects[0] if prospects else None)

    @classmethod
    def check_ladder(cls, company):
        """Check that the active tiers of company form a ladder.

        Taken highest first, a customer gets the first tier whose criteria
        it meets; the lowest tier for customers with sales takes every
        other customer with sales, so it alone has no criteria.
        """
        tiers = cls.search([
                ('company', '=', company.id),
                ], order=[('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')])
        no_sales = [t for t in tiers if t.no_sales]
        if len(no_sales) > 1:
            raise TierValidationError(gettext(
                    'crm_module.msg_tier_no_sales_unique',
                    tiers=', '.join(t.rec_name for t in no_sales)))
        computed = [t for t in tiers if t.computed]
        for tier, lower in itertools.pairwise(computed):
            if not tier.criteria:
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_catch_all_not_last',
                        tier=tier.rec_name, lower=lower.rec_name))
        if computed and computed[-1].criteria:
            raise TierValidationError(gettext(
                    'crm_module.msg_tier_lowest_criteria',
                    tier=computed[-1].rec_name))

    def get_rule(self, name):
        if self.no_sales:
            return gettext('crm_module.msg_tier_prospects_rule')
        return rule_text(
            self.combination, [c.rec_name for c in self.criteria])

    @classmethod
    def delete(cls, tiers):
        pool = Pool()
        Party = pool.get('party.party')
        History = pool.get('crm.tier.history')
        Line = pool.get('crm.evaluation.line')
        ids = [t.id for t in tiers]
        usages = [
            (Party, [('crm_tier', 'in', ids)]),
            (History, ['OR',
                    ('from_tier', 'in', ids), ('to_tier', 'in', ids)]),
            (Line, ['OR',
                    ('current_tier', 'in', ids),
                    ('proposed_tier', 'in', ids),
                    ('override_tier', 'in', ids)]),
            ]
        with Transaction().set_context(active_test=False, _check_access=False):
            for Model, domain in usages:
                records = Model.search(domain, limit=1)
                if records:
                    record, = records
                    raise TierInUseError(gettext(
                            'crm_module.msg_tier_in_use',
                            tier=', '.join(t.rec_name for t in tiers),
                            model=Model.__names__()['model'],
                            record=record.rec_name))
        # its criteria go with it: the ladder is checked without them
        companies = {t.company for t in tiers}
        with ladder_checked_after(lambda: companies):
            super().delete(tiers)


class TierCriterion(sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'crm.tier.criterion'
    __string__ = "Customer Tier Criterion"

    tier = fields.Many2One(
        'crm.tier', "Tier", required=True, ondelete='CASCADE')
    kind = fields.Selection(CRITERION_KINDS, "Kind", required=True)
    measure = fields.Selection(
        [(None, ""), *CRITERION_MEASURES], "Measure",
        states={
            'invisible': Eval('kind') != 'measure',
            'required': Eval('kind') == 'measure',
            },
        help="Amounts are the annual figures of the evaluated period in "
        "the company currency; shares are percentages of the company "
        "total of the customers with sales.")
    operator = fields.Selection(
        [(None, ""), *OPERATORS], "Operator",
        states={
            'invisible': Eval('kind') != 'measure',
            'required': Eval('kind') == 'measure',
            },
        help="\"以上\" (and above) in a rulebook includes the number: >=.")
    value = fields.Numeric(
        "Value", digits=(16, 2),
        states={
            'invisible': Eval('kind') != 'measure',
            'required': Eval('kind') == 'measure',
            })
    standing = fields.Selection(
        [(None, ""), *STANDINGS[:2]], "At Least",
        states={
            'invisible': Eval('kind') != 'standing',
            'required': Eval('kind') == 'standing',
            },
        help="The customer's industry standing must be this level or "
        "higher.")
    qualification = fields.Many2One(
        'crm.qualification', "Qualification", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ],
        states={
            'invisible': Eval('kind') != 'qualification',
            'required': Eval('kind') == 'qualification',
            },
        help="The customer must have this qualification, set by a CRM "
        "manager on the party.")
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.tier, Index.Equality())))

    @classmethod
    def search_company(cls, name, clause):
        return [('tier.' + clause[0], *clause[1:])]

    @classmethod
    def __register__(cls, module):
        created = not backend.TableHandler.table_exist(cls._table)
        super().__register__(module)
        if created:
            cls._migrate_thresholds()

    @classmethod
    def _migrate_thresholds(cls):
        """Turn the thresholds of the release before criteria into criteria:
        an amount from (>=) or a share above (>), combined by any, on the
        measure the company configured; a designated-only tier takes the
        qualification "designated strategic"."""
        pool = Pool()
        Tier = pool.get('crm.tier')
        tier_h = Tier.__table_handler__()
        if not tier_h.column_exist('min_amount'):
            return
        tier = Tier.__table__()
        criterion = cls.__table__()
        cursor = Transaction().connection.cursor()
        measures = _configured_measures()
        qualifications = _designated_qualifications()
        cursor.execute(*tier.select(
                tier.id, tier.company, tier.min_amount, tier.min_share,
                tier.designated_only))
        now = dt.datetime.now()
        rows = []
        for tier_id, company, amount, share, designated in list(cursor):
            measure = measures.get(company, 'revenue')
            if designated and company in qualifications:
                rows.append([tier_id, 10, 'qualification', None, None, None,
                        qualifications[company]])
            if amount is not None:
                rows.append([tier_id, 10, 'measure', measure, '>=',
                        amount, None])
            if share is not None:
                rows.append([tier_id, 20, 'measure', measure + '_share', '>',
                        share, None])
        if rows:
            cursor.execute(*criterion.insert(
                    [criterion.tier, criterion.sequence, criterion.kind,
                        criterion.measure, criterion.operator,
                        criterion.value, criterion.qualification,
                        criterion.create_uid, criterion.create_date],
                    [[*r, 0, now] for r in rows]))
            cursor.execute(*tier.update(
                    [tier.combination], ['any'],
                    where=tier.id.in_(list({r[0] for r in rows}))))

    @classmethod
    def default_kind(cls):
        return 'measure'

    @classmethod
    def default_operator(cls):
        return '>='

    @fields.depends('tier', '_parent_tier.company')
    def on_change_with_company(self, name=None):
        return self.tier.company if self.tier else None

    def get_rec_name(self, name):
        if self.kind == 'measure':
            measure = self.measure_string if self.measure else ''
            value = '' if self.value is None else f'{self.value:,.2f}'
            return '%s %s %s' % (measure, self.operator or '', value)
        elif self.kind == 'standing':
            return gettext('crm_module.msg_criterion_standing',
                standing=self.standing_string or '')
        elif self.kind == 'qualification':
            return self.qualification.rec_name if self.qualification else ''
        return ''

    measure_string = measure.translated('measure')
    standing_string = standing.translated('standing')

    @classmethod
    def validate_fields(cls, criteria, field_names):
        super().validate_fields(criteria, field_names)
        for criterion in criteria:
            criterion.check_value()

    def check_value(self):
        tier = self.tier.rec_name
        if self.kind == 'measure':
            if not self.measure or not self.operator or self.value is None:
                raise TierValidationError(gettext(
                        'crm_module.msg_criterion_value', tier=tier))
            if self.value < 0:
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_negative_threshold',
                        tier=tier, field=self.measure_string))
            if self.measure in SHARE_MEASURES and self.value > 100:
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_share_range',
                        tier=tier, share=self.value))
        elif self.kind == 'standing' and not self.standing:
            raise TierValidationError(gettext(
                    'crm_module.msg_criterion_standing_required', tier=tier))
        elif self.kind == 'qualification':
            if not self.qualification:
                raise TierValidationError(gettext(
                        'crm_module.msg_criterion_qualification_required',
                        tier=tier))
            if self.qualification.company != self.tier.company:
                raise TierValidationError(gettext(
                        'crm_module.msg_criterion_qualification_company',
                        tier=tier,
                        qualification=self.qualification.rec_name))

    @classmethod
    def create(cls, vlist):
        criteria = []
        with ladder_checked_after(
                lambda: {c.tier.company for c in criteria}):
            criteria.extend(super().create(vlist))
        return criteria

    @classmethod
    def write(cls, *args):
        criteria = [c for records in args[::2] for c in records]
        companies = {c.tier.company for c in criteria}
        with ladder_checked_after(lambda: companies | {
                    c.tier.company for c in cls.browse(criteria)}):
            super().write(*args)

    @classmethod
    def delete(cls, criteria):
        companies = {c.tier.company for c in criteria}
        with ladder_checked_after(lambda: companies):
            super().delete(criteria)


def _configured_measures():
    "Return the contribution measure each company configured, by company id"
    pool = Pool()
    Value = pool.get('crm.configuration.evaluation')
    if not backend.TableHandler.table_exist(Value._table):
        return {}
    table = Value.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.select(table.company, table.measure,
            where=table.measure != Null))
    return dict(cursor)


def _designated_qualifications():
    "Return the id of the 'designated strategic' qualification by company"
    Qualification = Pool().get('crm.qualification')
    table = Qualification.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.select(table.company, table.id,
            where=table.code == 'designated_strategic'))
    return dict(cursor)


class TierHistory(
        CustomerRecNameMixin, WorkflowRecordMixin, ModelSQL, ModelView):
    __name__ = 'crm.tier.history'
    __string__ = "Customer Tier History"
    # written by applying an evaluation, in SQL
    _record_message = 'crm_module.msg_tier_history_readonly'
    _record_error = TierInUseError
    _record_create = None

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    party = fields.Many2One(
        'party.party', "Party", required=True, readonly=True,
        ondelete='CASCADE',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date("Date", required=True, readonly=True)
    from_tier = fields.Many2One(
        'crm.tier', "From Tier", readonly=True, ondelete='RESTRICT')
    to_tier = fields.Many2One(
        'crm.tier', "To Tier", readonly=True, ondelete='RESTRICT')
    evaluation = fields.Many2One(
        'crm.evaluation', "Evaluation", readonly=True, ondelete='RESTRICT')
    user = fields.Many2One('res.user', "Changed By", readonly=True)
    reason = fields.Text("Reason", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.party, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
