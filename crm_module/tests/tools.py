"Helpers shared by the scenarios"
from decimal import Decimal

from proteus import Model

from trytond.modules.company.tests.tools import create_company


def create_cny_company(config=None):
    "Create the company in Chinese yuan, the currency of the policies"
    Currency = Model.get('currency.currency', config=config)
    currency = Currency(
        name="Chinese Yuan", code='CNY', symbol='¥',
        rounding=Decimal('0.01'))
    currency.save()
    return create_company(currency=currency, config=config)


def summary(customer, month, revenue, cost='0', currency='CNY',
        source='erp', quantity='1', line_count=1, last_sale_date=None):
    "A row for crm.sales.summary.upsert with amounts as decimal strings"
    return {
        'source': source, 'customer': customer, 'month': month,
        'currency': currency, 'revenue': str(revenue), 'cost': str(cost),
        'quantity': str(quantity), 'line_count': line_count,
        'last_sale_date': last_sale_date,
        }


def classify(party, standing='other', qualifications=(), reason="Policy",
        date=None, config=None):
    """Change the industry standing and the qualifications (by code) of
    party with the Change Classification wizard, as a CRM manager does"""
    from proteus import Wizard
    Qualification = Model.get('crm.qualification', config=config)
    wizard = Wizard('crm.party.classify', [party], config=config)
    form = wizard.form
    form.standing = standing
    while form.qualifications:
        form.qualifications.pop()
    for code in qualifications:
        qualification, = Qualification.find([('code', '=', code)])
        form.qualifications.append(Qualification(qualification.id))
    form.reason = reason
    if date is not None:
        form.date = date
    wizard.execute('change')
    party.reload()
    return party


def designate_strategic(party, reason="Long-term partner", config=None):
    "Give party the qualification designated strategic"
    return classify(party, party.crm_industry_standing or 'other',
        ['designated_strategic'] + [
            q.qualification.code for q in party.crm_qualifications
            if q.qualification.code != 'designated_strategic'],
        reason=reason, config=config)


def call_as_server(config, model, method, records, *args):
    """Call the class method of model on records the way server code does
    (another module, a scheduled action): in one transaction of config's
    user, without the access and button checks of a call over RPC"""
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(
            config.database_name, config.user, context=config.context):
        Model = Pool(config.database_name).get(model)
        getattr(Model, method)(
            Model.browse([r.id for r in records]), *args)


def setup_complaint_staff(config=None):
    """Create the departments of the complaint policy with their managers
    and staff, each manager with a user, and configure the receiving and
    supervising departments; return them in a namespace"""
    from types import SimpleNamespace

    from trytond.modules.company.tests.tools import get_company
    Party = Model.get('party.party', config=config)
    Employee = Model.get('company.employee', config=config)
    User = Model.get('res.user', config=config)
    Group = Model.get('res.group', config=config)
    Department = Model.get('crm.department', config=config)
    Configuration = Model.get('crm.configuration', config=config)
    company = get_company(config=config)

    staff = SimpleNamespace()
    for key, name in [
            ('receiver', "Li Na"), ('engineer', "Wang Wei"),
            ('service_manager', "Zhou Min"), ('quality_manager', "Zhao Gang"),
            ('supervisor', "Chen Jing")]:
        party = Party(name=name)
        party.save()
        employee = Employee(party=party, company=company)
        employee.save()
        setattr(staff, key, employee)
    for key, name, manager in [
            ('reception', "Customer Service", staff.service_manager),
            ('quality', "Quality", staff.quality_manager),
            ('supervision', "Supervision", staff.supervisor)]:
        department = Department(name=name, manager=manager)
        department.save()
        setattr(staff, key, department)
    # the receiving department's employee calls the customers back
    for employee, department in [
            (staff.receiver, staff.reception),
            (staff.engineer, staff.quality)]:
        employee.crm_department = department
        employee.save()

    crm, crm_manager = (Group.find([('name', '=', n)])[0]
        for n in ["CRM", "CRM Manager"])
    user = User(login='chen', name="Chen Jing")
    user.groups.extend([crm, crm_manager])
    user.companies.append(company)
    user.company = company
    user.employees.append(staff.supervisor)
    user.save()
    staff.supervisor_user = user

    configuration = Configuration(1)
    configuration.complaint_receiving_department = staff.reception
    configuration.complaint_supervising_department = staff.supervision
    configuration.save()
    return staff
