from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)
from trytond.pool import Pool
from trytond.pyson import Eval, Id
from trytond.transaction import Transaction

from .common import column_added
from .exceptions import ConfigurationValidationError

PERIOD_TYPES = [
    ('rolling', "Rolling 12 Months"),
    ('calendar', "Calendar Year"),
    ]
MEASURES = [
    ('revenue', "Revenue"),
    ('margin', "Gross Margin"),
    ]
EVALUATION_FIELDS = {
    'period_type', 'measure', 'evaluation_month', 'resident_threshold',
    'big_customer_threshold', 'abc_a_share', 'abc_b_share',
    'strategic_target_min', 'strategic_target_max'}
COMPLAINT_FIELDS = {
    'complaint_sequence', 'complaint_receiving_department',
    'complaint_supervising_department', 'complaint_risk_hours',
    'complaint_repeat_days', 'complaint_escalation_email',
    'complaint_handle_first_tiers', 'complaint_preventive_tiers'}
# The tiers whose customers' non-major quality problems are handled first,
# by tier code [S2-110]
DEFAULT_HANDLE_FIRST_TIERS = ['strategic', 'key']
# The tiers whose customers' quality complaints close only once each
# preventive measure is verified [S2-107]
DEFAULT_PREVENTIVE_TIERS = ['strategic']


class ComplaintTiersMixin:
    "The tiers of the company a complaint setting can name"
    __slots__ = ()

    @classmethod
    def get_complaint_tiers(cls):
        pool = Pool()
        Tier = pool.get('crm.tier')
        company = Transaction().context.get('company')
        tiers = Tier.search([('company', '=', company)]) if company else []
        codes = {t.code: t.rec_name for t in tiers}
        for code in DEFAULT_HANDLE_FIRST_TIERS + DEFAULT_PREVENTIVE_TIERS:
            codes.setdefault(code, code)
        return sorted(codes.items())
RELATIONSHIP_FIELDS = {
    'dormant_days', 'visit_reminder_days', 'new_customer_days'}


def check_not_negative(records, names):
    "Refuse a negative number of days or hours in a company's settings"
    for record in records:
        for name in names:
            value = getattr(record, name)
            if value is not None and value < 0:
                raise ConfigurationValidationError(gettext(
                        'crm_module.msg_configuration_negative',
                        field=record.__names__(name)['field']))


class Configuration(
        ComplaintTiersMixin, ModelSingleton, ModelSQL, ModelView,
        CompanyMultiValueMixin):
    __name__ = 'crm.configuration'
    __string__ = "CRM Configuration"

    period_type = fields.MultiValue(fields.Selection(
            PERIOD_TYPES, "Period Type",
            help="The 12 months whose sales an evaluation measures."))
    measure = fields.MultiValue(fields.Selection(
            MEASURES, "Contribution Measure",
            help="What the contribution, its share, the rank, the "
            "cumulative share and the ABC class are computed on: gross "
            "margin by default, as the rulebooks judge a customer mainly "
            "by its profit contribution. Each tier criterion names its "
            "own measure."))
    strategic_target_min = fields.MultiValue(fields.Integer(
            "Strategic Partners From",
            help="The fewest customers the highest tier aims at (the "
            "rulebook's 3 to 5 strategic partners); an evaluation that "
            "proposes fewer says so."))
    strategic_target_max = fields.MultiValue(fields.Integer(
            "Strategic Partners To",
            help="The most customers the highest tier aims at; an "
            "evaluation that proposes more says so."))
    evaluation_month = fields.MultiValue(fields.Integer(
            "Evaluation Month",
            help="The month (1-12) in which the scheduled action prepares "
            "the yearly draft evaluation."))
    resident_threshold = fields.MultiValue(fields.Numeric(
            "Resident Representative Threshold", digits=(16, 2),
            help="Strategic customers whose annual sales exceed this amount "
            "get a resident representative."))
    big_customer_threshold = fields.MultiValue(fields.Numeric(
            "Big Customer Threshold", digits=(16, 2),
            help="Average annual contribution over the evaluated and the "
            "previous period above which a customer is a big customer. The "
            "rulebook leaves the number blank: the shipped 10,000,000 is the "
            "product's."))
    abc_a_share = fields.MultiValue(fields.Numeric(
            "Class A Cumulative Share %", digits=(5, 2),
            help="Customers making up this cumulative share of the company "
            "total are class A."))
    abc_b_share = fields.MultiValue(fields.Numeric(
            "Class B Cumulative Share %", digits=(5, 2),
            help="Customers after class A up to this cumulative share are "
            "class B; the rest are class C."))
    dormant_days = fields.MultiValue(fields.Integer(
            "Dormant after Days",
            help="Customers without a visit, complaint or sale for this "
            "many days are flagged for re-contact."))
    visit_reminder_days = fields.MultiValue(fields.Integer(
            "Visit Reminder Days",
            help="How many days before a visit is due its reminder is "
            "created."))
    new_customer_days = fields.MultiValue(fields.Integer(
            "New Customer Days",
            help="Customers created or with a first sale within this many "
            "days get a follow-up reminder."))

    complaint_sequence = fields.MultiValue(fields.Many2One(
            'ir.sequence', "Complaint Sequence", required=True,
            domain=[
                ('sequence_type', '=',
                    Id('crm_module', 'sequence_type_complaint')),
                ('company', 'in', [
                        Eval('context', {}).get('company', -1), None]),
                ],
            help="Numbers the complaints of the company."))
    complaint_receiving_department = fields.MultiValue(fields.Many2One(
            'crm.department', "Receiving Department",
            domain=[
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="The department that receives complaints and calls the "
            "customers back."))
    complaint_supervising_department = fields.MultiValue(fields.Many2One(
            'crm.department', "Supervising Department",
            domain=[
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="The department informed of every complaint; its manager "
            "receives the escalations of breached time limits."))
    complaint_risk_hours = fields.MultiValue(fields.Integer(
            "At Risk Within Hours",
            help="Open complaints whose next deadline falls within this "
            "many hours are listed as at risk."))
    complaint_repeat_days = fields.MultiValue(fields.Integer(
            "Repeat Complaint Days",
            help="A complaint of the same customer and category within "
            "this many days after another is a repeat complaint."))
    complaint_escalation_email = fields.MultiValue(fields.Boolean(
            "Escalation E-mail",
            help="Also send escalations by e-mail to the supervising "
            "manager (needs an outgoing mail server)."))
    complaint_handle_first_tiers = fields.MultiValue(fields.MultiSelection(
            'get_complaint_tiers', "Handle First Tiers",
            help="Non-major quality problems (severity general) of these "
            "tiers' customers may be handled before the measures are "
            "approved; responsibility is settled after."))
    complaint_preventive_tiers = fields.MultiValue(fields.MultiSelection(
            'get_complaint_tiers', "Preventive Measure Tiers",
            help="A quality complaint of these tiers' customers lists its "
            "preventive measures and closes only once each is verified. "
            "The rulebook names strategic customers."))

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field in EVALUATION_FIELDS:
            return pool.get('crm.configuration.evaluation')
        if field in COMPLAINT_FIELDS:
            return pool.get('crm.configuration.complaint')
        if field in RELATIONSHIP_FIELDS:
            return pool.get('crm.configuration.relationship')
        return super().multivalue_model(field)

    @classmethod
    def default_complaint_sequence(cls, **pattern):
        return cls.multivalue_model(
            'complaint_sequence').default_complaint_sequence()

    @classmethod
    def default_complaint_risk_hours(cls, **pattern):
        return cls.multivalue_model(
            'complaint_risk_hours').default_complaint_risk_hours()

    @classmethod
    def default_complaint_repeat_days(cls, **pattern):
        return cls.multivalue_model(
            'complaint_repeat_days').default_complaint_repeat_days()

    @classmethod
    def default_complaint_escalation_email(cls, **pattern):
        return cls.multivalue_model(
            'complaint_escalation_email').default_complaint_escalation_email()

    @classmethod
    def default_complaint_handle_first_tiers(cls, **pattern):
        return cls.multivalue_model(
            'complaint_handle_first_tiers'
            ).default_complaint_handle_first_tiers()

    @classmethod
    def default_complaint_preventive_tiers(cls, **pattern):
        return cls.multivalue_model(
            'complaint_preventive_tiers'
            ).default_complaint_preventive_tiers()

    @classmethod
    def default_dormant_days(cls, **pattern):
        return cls.multivalue_model('dormant_days').default_dormant_days()

    @classmethod
    def default_visit_reminder_days(cls, **pattern):
        return cls.multivalue_model(
            'visit_reminder_days').default_visit_reminder_days()

    @classmethod
    def default_new_customer_days(cls, **pattern):
        return cls.multivalue_model(
            'new_customer_days').default_new_customer_days()

    @classmethod
    def default_period_type(cls, **pattern):
        return cls.multivalue_model('period_type').default_period_type()

    @classmethod
    def default_measure(cls, **pattern):
        return cls.multivalue_model('measure').default_measure()

    @classmethod
    def default_strategic_target_min(cls, **pattern):
        return cls.multivalue_model(
            'strategic_target_min').default_strategic_target_min()

    @classmethod
    def default_strategic_target_max(cls, **pattern):
        return cls.multivalue_model(
            'strategic_target_max').default_strategic_target_max()

    @classmethod
    def default_evaluation_month(cls, **pattern):
        return cls.multivalue_model(
            'evaluation_month').default_evaluation_month()

    @classmethod
    def default_resident_threshold(cls, **pattern):
        return cls.multivalue_model(
            'resident_threshold').default_resident_threshold()

    @classmethod
    def default_big_customer_threshold(cls, **pattern):
        return cls.multivalue_model(
            'big_customer_threshold').default_big_customer_threshold()

    @classmethod
    def default_abc_a_share(cls, **pattern):
        return cls.multivalue_model('abc_a_share').default_abc_a_share()

    @classmethod
    def default_abc_b_share(cls, **pattern):
        return cls.multivalue_model('abc_b_share').default_abc_b_share()


class ConfigurationEvaluation(ModelSQL, CompanyValueMixin):
    __name__ = 'crm.configuration.evaluation'
    __string__ = "CRM Configuration Evaluation"

    period_type = fields.Selection(PERIOD_TYPES, "Period Type")
    measure = fields.Selection(MEASURES, "Contribution Measure")
    evaluation_month = fields.Integer("Evaluation Month")
    resident_threshold = fields.Numeric(
        "Resident Representative Threshold", digits=(16, 2))
    big_customer_threshold = fields.Numeric(
        "Big Customer Threshold", digits=(16, 2))
    abc_a_share = fields.Numeric("Class A Cumulative Share %", digits=(5, 2))
    abc_b_share = fields.Numeric("Class B Cumulative Share %", digits=(5, 2))
    strategic_target_min = fields.Integer("Strategic Partners From")
    strategic_target_max = fields.Integer("Strategic Partners To")

    @classmethod
    def default_strategic_target_min(cls):
        return 3

    @classmethod
    def default_strategic_target_max(cls):
        return 5

    @classmethod
    def default_period_type(cls):
        return 'calendar'

    @classmethod
    def default_measure(cls):
        return 'margin'

    @classmethod
    def default_evaluation_month(cls):
        return 1

    @classmethod
    def default_resident_threshold(cls):
        return Decimal('50000000')

    @classmethod
    def default_big_customer_threshold(cls):
        return Decimal('10000000')

    @classmethod
    def default_abc_a_share(cls):
        return Decimal(80)

    @classmethod
    def default_abc_b_share(cls):
        return Decimal(95)

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        for record in records:
            record.check_values()

    def check_values(self):
        for name in ['resident_threshold', 'big_customer_threshold',
                'abc_a_share', 'abc_b_share']:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigurationValidationError(gettext(
                        'crm_module.msg_configuration_negative',
                        field=self.__names__(name)['field']))
        if (self.evaluation_month is not None
                and not 1 <= self.evaluation_month <= 12):
            raise ConfigurationValidationError(gettext(
                    'crm_module.msg_configuration_month',
                    month=self.evaluation_month))
        low, high = self.strategic_target_min, self.strategic_target_max
        for value in [low, high]:
            if value is not None and value < 0:
                raise ConfigurationValidationError(gettext(
                        'crm_module.msg_configuration_negative',
                        field=self.__names__('strategic_target_min')['field']))
        if low is not None and high is not None and low > high:
            raise ConfigurationValidationError(gettext(
                    'crm_module.msg_configuration_strategic_target',
                    low=low, high=high))
        a, b = self.abc_a_share, self.abc_b_share
        if a is not None and b is not None and not (0 < a <= b <= 100):
            raise ConfigurationValidationError(gettext(
                    'crm_module.msg_configuration_abc', a=a, b=b))


class ConfigurationComplaint(
        ComplaintTiersMixin, ModelSQL, CompanyValueMixin):
    __name__ = 'crm.configuration.complaint'
    __string__ = "CRM Configuration Complaint"

    complaint_sequence = fields.Many2One(
        'ir.sequence', "Complaint Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('crm_module', 'sequence_type_complaint')),
            ('company', 'in', [Eval('company', -1), None]),
            ])
    complaint_receiving_department = fields.Many2One(
        'crm.department', "Receiving Department",
        domain=[('company', '=', Eval('company', -1))])
    complaint_supervising_department = fields.Many2One(
        'crm.department', "Supervising Department",
        domain=[('company', '=', Eval('company', -1))])
    complaint_risk_hours = fields.Integer("At Risk Within Hours")
    complaint_repeat_days = fields.Integer("Repeat Complaint Days")
    complaint_escalation_email = fields.Boolean("Escalation E-mail")
    complaint_handle_first_tiers = fields.MultiSelection(
        'get_complaint_tiers', "Handle First Tiers")
    complaint_preventive_tiers = fields.MultiSelection(
        'get_complaint_tiers', "Preventive Measure Tiers")

    @classmethod
    def __register__(cls, module):
        # The settings rows of an earlier release take the shipped tiers of
        # the settings it did not know.
        added = {name: column_added(cls, module, name)
            for name in [
                'complaint_handle_first_tiers', 'complaint_preventive_tiers']}
        super().__register__(module)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for name, default in [
                ('complaint_handle_first_tiers', DEFAULT_HANDLE_FIRST_TIERS),
                ('complaint_preventive_tiers', DEFAULT_PREVENTIVE_TIERS)]:
            if added[name]:
                field = getattr(cls, name)
                cursor.execute(*table.update([getattr(table, name)],
                        [field.sql_format(list(default))]))

    @classmethod
    def default_complaint_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('crm_module', 'sequence_complaint')
        except KeyError:
            return None

    @classmethod
    def default_complaint_risk_hours(cls):
        return 4

    @classmethod
    def default_complaint_repeat_days(cls):
        return 90

    @classmethod
    def default_complaint_escalation_email(cls):
        return False

    @classmethod
    def default_complaint_handle_first_tiers(cls):
        return list(DEFAULT_HANDLE_FIRST_TIERS)

    @classmethod
    def default_complaint_preventive_tiers(cls):
        return list(DEFAULT_PREVENTIVE_TIERS)

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        check_not_negative(
            records, ['complaint_risk_hours', 'complaint_repeat_days'])


class ConfigurationRelationship(ModelSQL, CompanyValueMixin):
    __name__ = 'crm.configuration.relationship'
    __string__ = "CRM Configuration Relationship"

    dormant_days = fields.Integer("Dormant after Days")
    visit_reminder_days = fields.Integer("Visit Reminder Days")
    new_customer_days = fields.Integer("New Customer Days")

    @classmethod
    def default_dormant_days(cls):
        return 90

    @classmethod
    def default_visit_reminder_days(cls):
        return 7

    @classmethod
    def default_new_customer_days(cls):
        return 30

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        check_not_negative(records, sorted(RELATIONSHIP_FIELDS))
