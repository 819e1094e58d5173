from decimal import Decimal

from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

# The shipped tier policy (doc/policy.md#tiers-and-evaluation), highest first:
# (code, English name, Chinese name, annual amount from, share above,
#  designated only, without sales, in the monthly status report)
DEFAULT_TIERS = [
    ('strategic', "Strategic", "战略客户", None, None, True, False, True),
    ('key', "Key", "重点客户", Decimal('20000000.00'), Decimal('3.00'), False,
        False, True),
    ('major', "Major", "主要客户", Decimal('5000000.00'), None, False, False,
        False),
    ('general', "General", "一般客户", None, None, False, False, False),
    ('potential', "Potential", "潜在客户", None, None, False, True, False),
    ]


class Company(metaclass=PoolMeta):
    __name__ = 'company.company'

    @classmethod
    def create(cls, vlist):
        companies = super().create(vlist)
        cls.create_crm_tiers(companies)
        cls.create_crm_complaint_time_limits(companies)
        cls.create_crm_visit_policies(companies)
        return companies

    @classmethod
    def create_crm_visit_policies(cls, companies):
        "Give the tiers of companies the shipped visit policy to edit"
        pool = Pool()
        Tier = pool.get('crm.tier')
        Policy = pool.get('crm.visit.policy')
        with without_check_access(), \
                Transaction().set_context(active_test=False):
            return Policy.create_defaults(Tier.search([
                        ('company', 'in', [c.id for c in companies]),
                        ]))

    @classmethod
    def create_crm_tiers(cls, companies):
        "Give companies without tiers the shipped tier policy to edit"
        pool = Pool()
        Tier = pool.get('crm.tier')
        Lang = pool.get('ir.lang')
        # The new company is not yet among the user's companies: its tiers
        # are created whatever the record rules say.
        with without_check_access():
            return cls._create_crm_tiers(companies, Tier, Lang)

    @classmethod
    def _create_crm_tiers(cls, companies, Tier, Lang):
        with Transaction().set_context(active_test=False):
            have_tiers = {t.company for t in Tier.search([
                        ('company', 'in', [c.id for c in companies]),
                        ])}
        vlist = []
        for company in companies:
            if company in have_tiers:
                continue
            for sequence, (code, name, _, amount, share, designated,
                    no_sales, status_report) in enumerate(DEFAULT_TIERS, 1):
                vlist.append({
                        'company': company.id,
                        'sequence': sequence * 10,
                        'code': code,
                        'name': name,
                        'min_amount': amount,
                        'min_share': share,
                        'designated_only': designated,
                        'no_sales': no_sales,
                        'status_report': status_report,
                        })
        with Transaction().set_context(language='en'):
            tiers = Tier.create(vlist)
        if tiers and Lang.search([
                    ('code', '=', 'zh_CN'), ('translatable', '=', True)]):
            names = {t[0]: t[2] for t in DEFAULT_TIERS}
            with Transaction().set_context(language='zh_CN'):
                translated = Tier.browse(tiers)
                for tier in translated:
                    tier.name = names[tier.code]
                Tier.save(translated)
        return tiers

    @classmethod
    def create_crm_complaint_time_limits(cls, companies):
        "Give companies without time limits the shipped complaint matrix"
        pool = Pool()
        TimeLimit = pool.get('crm.complaint.time_limit')
        Tier = pool.get('crm.tier')
        with without_check_access():
            have_limits = {t.company for t in TimeLimit.search([
                        ('company', 'in', [c.id for c in companies]),
                        ])}
            vlist = []
            for company in companies:
                if company in have_limits:
                    continue
                strategic = Tier.search([
                        ('company', '=', company.id),
                        ('code', '=', 'strategic'),
                        ], limit=1)
                vlist.extend(TimeLimit.shipped_rows(
                        company, strategic[0] if strategic else None))
            return TimeLimit.create(vlist)
