from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields, sequence_ordered)
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import CustomerRecNameMixin
from .company import DEFAULT_TIERS
from .exceptions import TierInUseError, TierValidationError
from .workflow import WorkflowRecordMixin


class Tier(sequence_ordered(), DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'crm.tier'
    __string__ = "Customer Tier"

    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    code = fields.Char("Code", required=True, strip=True)
    name = fields.Char("Name", required=True, translate=True)
    min_amount = fields.Numeric(
        "Minimum Annual Contribution", digits=(16, 2),
        states={
            'invisible': Eval('designated_only') | Eval('no_sales'),
            },
        help="Customers whose annual contribution (in company currency, "
        "with the configured measure) reaches this amount get this tier.")
    min_share = fields.Numeric(
        "Share Above %", digits=(5, 2),
        states={
            'invisible': Eval('designated_only') | Eval('no_sales'),
            },
        help="Customers whose share of the company total exceeds this "
        "percentage get this tier, whatever their amount.")
    designated_only = fields.Boolean(
        "Designated Only",
        help="Only customers designated by management get this tier; "
        "computation never assigns nor removes it.")
    no_sales = fields.Boolean(
        "Without Sales",
        help="The tier of customers without sales in the evaluated period.")
    status_report = fields.Boolean(
        "In Monthly Status Report",
        help="Customers of this tier at the end of a month are listed in "
        "the monthly business status report of that month.")
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
        super().__register__(module)
        if created:
            # Tiers that exist before the flag: report the shipped ones
            # that the report is written for: strategic and key customers
            # (doc/policy.md#monthly-business-status-report).
            table = cls.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*table.update(
                    [table.status_report], [True],
                    where=table.code.in_(
                        [t[0] for t in DEFAULT_TIERS if t[7]])))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_status_report(cls):
        return False

    @classmethod
    def default_designated_only(cls):
        return False

    @classmethod
    def default_no_sales(cls):
        return False

    def get_rec_name(self, name):
        return self.name

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('name', operator, operand, *extra),
            ('code', operator, operand, *extra),
            ]

    @property
    def computed(self):
        "Whether the tier is assigned by computation from the figures"
        return not self.designated_only and not self.no_sales

    @classmethod
    def validate(cls, tiers):
        super().validate(tiers)
        for tier in tiers:
            tier.check_thresholds()
        for company in {t.company for t in tiers}:
            cls.check_ladder(company)

    def check_thresholds(self):
        for name in ['min_amount', 'min_share']:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_negative_threshold',
                        tier=self.rec_name,
                        field=self.__names__(name)['field']))
        if self.min_share is not None and self.min_share >= 100:
            raise TierValidationError(gettext(
                    'crm_module.msg_tier_share_range',
                    tier=self.rec_name, share=self.min_share))
        if self.designated_only and self.no_sales:
            raise TierValidationError(gettext(
                    'crm_module.msg_tier_designated_no_sales',
                    tier=self.rec_name))
        if ((self.designated_only or self.no_sales)
                and (self.min_amount is not None
                    or self.min_share is not None)):
            raise TierValidationError(gettext(
                    'crm_module.msg_tier_threshold_not_computed',
                    tier=self.rec_name))

    @classmethod
    def check_ladder(cls, company):
        """Check that the computed tiers of company form a ladder.

        Taken highest first, each tier must ask less than the one above it,
        otherwise the lower one could never be reached; a tier without
        threshold takes every customer with sales, so it must come last.
        """
        tiers = cls.search([
                ('company', '=', company.id),
                ], order=[('sequence', 'ASC NULLS FIRST'), ('id', 'ASC')])
        no_sales = [t for t in tiers if t.no_sales]
        if len(no_sales) > 1:
            raise TierValidationError(gettext(
                    'crm_module.msg_tier_no_sales_unique',
                    tiers=', '.join(t.rec_name for t in no_sales)))
        above = None
        # the nearest higher tier that has each threshold
        higher = {'min_amount': None, 'min_share': None}
        for tier in filter(lambda t: t.computed, tiers):
            if (above is not None
                    and above.min_amount is None and above.min_share is None):
                raise TierValidationError(gettext(
                        'crm_module.msg_tier_catch_all_not_last',
                        tier=above.rec_name, lower=tier.rec_name))
            for name, other in higher.items():
                value = getattr(tier, name)
                if (value is not None and other is not None
                        and value >= getattr(other, name)):
                    raise TierValidationError(gettext(
                            'crm_module.msg_tier_ladder',
                            tier=tier.rec_name, higher=other.rec_name,
                            field=cls.__names__(name)['field']))
            for name in higher:
                if getattr(tier, name) is not None:
                    higher[name] = tier
            above = tier

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
        super().delete(tiers)


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
