from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .common import CustomerRecNameMixin
from .exceptions import ComplaintSatisfactionError, WorkflowStateError
from .workflow import in_workflow

KINDS = [
    ('periodic', "Periodic Survey"),
    ('return_visit', "Complaint Return Visit"),
    ]
SCORES = [
    'product_quality', 'service', 'delivery', 'price', 'overall']


def check_scores(record, names):
    "Refuse a score of the fields names of record outside 1 to 5"
    for name in names:
        value = getattr(record, name)
        if value is not None and not 1 <= value <= 5:
            raise ComplaintSatisfactionError(gettext(
                    'crm_module.msg_satisfaction_range',
                    field=record.__names__(name)['field'],
                    value=value))


def _score(string, required=False):
    return fields.Integer(
        string, required=required,
        states={
            'readonly': Eval('kind') == 'return_visit',
            },
        help="From 1 (very poor) to 5 (very good).")


class Satisfaction(CustomerRecNameMixin, ModelSQL, ModelView):
    "Customer satisfaction survey (满意度调查)"
    __name__ = 'crm.satisfaction'
    __string__ = "Satisfaction Survey"

    _readonly = {
        'readonly': Eval('kind') == 'return_visit',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_readonly)
    party = fields.Many2One(
        'party.party', "Customer", required=True, states=_readonly,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date("Date", required=True, states=_readonly)
    kind = fields.Selection(KINDS, "Kind", required=True, readonly=True)
    complaint = fields.Many2One(
        'crm.complaint', "Complaint", readonly=True, ondelete='RESTRICT')
    surveyed_by = fields.Many2One(
        'company.employee', "Surveyed By", states=_readonly,
        domain=[('company', '=', Eval('company', -1))])
    product_quality = _score("Product Quality")
    service = _score("Service")
    delivery = _score("Delivery Speed")
    price = _score("Price")
    overall = _score("Overall", required=True)
    note = fields.Text("Note", states=_readonly)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(
                t, (t.party, Index.Equality()), (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_kind(cls):
        return 'periodic'

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    def get_rec_name(self, name):
        return '%s @ %s' % (self.party.rec_name, self.date)

    @classmethod
    def validate_fields(cls, surveys, field_names):
        super().validate_fields(surveys, field_names)
        if field_names & set(SCORES):
            for survey in surveys:
                survey.check_scores()

    def check_scores(self):
        check_scores(self, SCORES)

    @classmethod
    def create(cls, vlist):
        if not in_workflow():
            for values in vlist:
                if (values.get('kind', 'periodic') != 'periodic'
                        or values.get('complaint')):
                    raise WorkflowStateError(gettext(
                            'crm_module.msg_satisfaction_return_visit'))
        return super().create(vlist)

    @classmethod
    def write(cls, *args):
        if not in_workflow():
            actions = iter(args)
            for surveys, values in zip(actions, actions, strict=False):
                if ({'kind', 'complaint'} & set(values)
                        or any(s.kind != 'periodic' for s in surveys)):
                    raise WorkflowStateError(gettext(
                            'crm_module.msg_satisfaction_return_visit'))
        super().write(*args)

    @classmethod
    def delete(cls, surveys):
        if any(s.kind != 'periodic' for s in surveys):
            raise WorkflowStateError(gettext(
                    'crm_module.msg_satisfaction_return_visit'))
        super().delete(surveys)
