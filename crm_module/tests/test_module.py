from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class CrmModuleTestCase(CompanyTestMixin, ModuleTestCase):
    "Test CRM module"
    module = 'crm_module'


del ModuleTestCase
