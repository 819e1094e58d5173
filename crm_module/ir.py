from trytond.pool import PoolMeta


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append((
                'crm.evaluation|prepare_drafts',
                "Prepare Yearly Customer Evaluations"))
        cls.method.selection.append((
                'crm.complaint|escalate',
                "Escalate Breached Complaint Time Limits"))
        cls.method.selection.append((
                'crm.reminder|generate',
                "Create Customer Relationship Reminders"))
