from trytond.model import DeactivableMixin, ModelSQL, ModelView, fields
from trytond.pyson import Eval
from trytond.transaction import Transaction


class Department(DeactivableMixin, ModelSQL, ModelView):
    """A department of the company that receives, handles or supervises
    customer complaints (Tryton's company module has no departments)"""
    __name__ = 'crm.department'
    __string__ = "Department"

    company = fields.Many2One('company.company', "Company", required=True)
    name = fields.Char("Name", required=True, translate=True)
    manager = fields.Many2One(
        'company.employee', "Manager",
        domain=[('company', '=', Eval('company', -1))],
        help="Escalated complaints are notified to this employee's users.")
    employees = fields.One2Many(
        'company.employee', 'crm_department', "Employees",
        readonly=True,
        help="Set on the employee's form.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')
