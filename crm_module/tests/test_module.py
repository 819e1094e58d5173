import os

import polib

from trytond.modules.company.tests import CompanyTestMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction

LOCALE = os.path.join(os.path.dirname(__file__), '..', 'locale')


class CrmModuleTestCase(CompanyTestMixin, ModuleTestCase):
    "Test CRM module"
    module = 'crm_module'
    # Its optional dependency: the views, access and strings of the
    # complaints by e-mail are checked too. The scenarios activate
    # crm_module alone.
    extras = ['inbound_email']

    @with_transaction()
    def test_zh_cn_complete(self):
        "Every string of the module has its Chinese translation"
        pool = Pool()
        Translation = pool.get('ir.translation')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        # The strings of the views and reports, as trytond-admin does
        # before it exports the translations
        session_id, _, _ = TranslationSet.create()
        TranslationSet.execute(session_id, {}, 'set_')
        TranslationSet.delete(session_id)
        sources = polib.pofile(
            Translation.translation_export('en', self.module).decode())
        chinese = {
            (entry.msgctxt, entry.msgid): entry.msgstr
            for entry in polib.pofile(os.path.join(LOCALE, 'zh_CN.po'))
            if not entry.obsolete and 'fuzzy' not in entry.flags}
        missing = sorted(
            '%s %r' % (entry.msgctxt, entry.msgid) for entry in sources
            if entry.msgid and not chinese.get(
                (entry.msgctxt, entry.msgid)))
        assert not missing, "\n".join(missing)


del ModuleTestCase
