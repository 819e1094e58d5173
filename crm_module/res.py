from trytond.pool import PoolMeta


class UserApplication(metaclass=PoolMeta):
    __name__ = 'res.user.application'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.application.selection.append(('crm_sync', "CRM Sales Sync"))
        cls.application.selection.append(
            ('crm_reports', "CRM Finance Reports"))
