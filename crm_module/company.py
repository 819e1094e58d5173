from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

from .presets import DEFAULT_PRESET

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
        """Give companies without tiers the shipped qualifications and the
        tiers of the default preset to edit"""
        from .classification import load_preset
        pool = Pool()
        Tier = pool.get('crm.tier')
        Qualification = pool.get('crm.qualification')
        # The new company is not yet among the user's companies: its tiers
        # are created whatever the record rules say.
        with without_check_access():
            Qualification.create_defaults(companies)
            with Transaction().set_context(active_test=False):
                have_tiers = {t.company for t in Tier.search([
                            ('company', 'in', [c.id for c in companies]),
                            ])}
            tiers = []
            for company in companies:
                if company not in have_tiers:
                    tiers.extend(load_preset(
                            company, DEFAULT_PRESET, check=False))
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
