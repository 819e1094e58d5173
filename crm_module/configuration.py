from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)
from trytond.pool import Pool

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
    'big_customer_threshold', 'abc_a_share', 'abc_b_share'}
RELATIONSHIP_FIELDS = {
    'dormant_days', 'visit_reminder_days', 'new_customer_days'}


class Configuration(ModelSingleton, ModelSQL, ModelView, CompanyMultiValueMixin):
    __name__ = 'crm.configuration'
    __string__ = "CRM Configuration"

    period_type = fields.MultiValue(fields.Selection(
            PERIOD_TYPES, "Period Type",
            help="The 12 months whose sales an evaluation measures."))
    measure = fields.MultiValue(fields.Selection(
            MEASURES, "Contribution Measure",
            help="What tier thresholds, shares and ranks are computed on."))
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
            "previous period above which a customer is a big customer."))
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

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field in EVALUATION_FIELDS:
            return pool.get('crm.configuration.evaluation')
        if field in RELATIONSHIP_FIELDS:
            return pool.get('crm.configuration.relationship')
        return super().multivalue_model(field)

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

    @classmethod
    def default_period_type(cls):
        return 'calendar'

    @classmethod
    def default_measure(cls):
        return 'revenue'

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
        a, b = self.abc_a_share, self.abc_b_share
        if a is not None and b is not None and not (0 < a <= b <= 100):
            raise ConfigurationValidationError(gettext(
                    'crm_module.msg_configuration_abc', a=a, b=b))


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
        for record in records:
            for name in RELATIONSHIP_FIELDS:
                value = getattr(record, name)
                if value is not None and value < 0:
                    raise ConfigurationValidationError(gettext(
                            'crm_module.msg_configuration_negative',
                            field=record.__names__(name)['field']))
