"""Complaints sent by other systems (web forms, call centres, portals)
through the sync API.

The API keeps each complaint once per (source, external id) and forwards
it here; intake creates the complaint through the model's own create, so
that numbering, deadlines, repeat marks and the state log apply as to a
complaint typed in. The source and the external id are stored on the
complaint: a forward retried after a lost answer finds it instead of
creating a second one.
"""
import datetime as dt

from trytond.model import Index, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .clock import now
from .workflow import workflow

# The channel of every complaint that comes through the API.
INTAKE_CHANNEL = 'web'
TEXT_FIELDS = ['source', 'external_id', 'customer', 'description']


class IntakeError(Exception):
    "A complaint the sender must correct: the field and why"

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


class Complaint(metaclass=PoolMeta):
    __name__ = 'crm.complaint'

    intake_source = fields.Char(
        "Intake Source", readonly=True,
        help="The outside system that sent the complaint through the API.")
    intake_external_id = fields.Char(
        "Intake External ID", readonly=True,
        help="The sender's own id of the complaint.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t,
                (t.intake_source, Index.Equality()),
                (t.intake_external_id, Index.Equality()),
                where=t.intake_source != None))  # noqa: E711
        # Only intake sets them: they tie the complaint to the sender's id.
        cls._workflow_fields = cls._workflow_fields | {
            'intake_source', 'intake_external_id'}

    @classmethod
    def copy(cls, complaints, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('intake_source', None)
        default.setdefault('intake_external_id', None)
        return super().copy(complaints, default=default)

    @classmethod
    def find_intake(cls, source, external_id):
        "Return the complaint of the context company sent as external_id"
        company = Transaction().context.get('company')
        complaints = cls.search([
                ('company', '=', company),
                ('intake_source', '=', source),
                ('intake_external_id', '=', external_id),
                ], limit=1)
        return complaints[0] if complaints else None

    @classmethod
    def intake(cls, data):
        """Create the complaint that data describes, once.

        data has source, external_id, customer (a party code or an
        identifier registered for the source), received_at (ISO 8601,
        naive UTC), category, severity (None: the default), description
        and contact. Return (status, complaint): 'created' or 'existing'
        with the complaint, or ('unmatched', None) when no party matches
        the customer yet (nothing is stored). Raise IntakeError for a
        value the sender must correct.
        """
        pool = Pool()
        Summary = pool.get('crm.sales.summary')
        values = cls._parse_intake(data)
        # Serialises intakes: a forward retried while the first still runs
        # waits for it and then finds its complaint.
        cls.lock()
        existing = cls.find_intake(
            values['intake_source'], values['intake_external_id'])
        if existing:
            return 'existing', existing
        reference = (values['intake_source'], data['customer'].strip())
        party = Summary.match_parties({reference}).get(reference)
        if not party:
            return 'unmatched', None
        values['party'] = party
        with workflow():
            complaint, = cls.create([values])
        return 'created', complaint

    @classmethod
    def _parse_intake(cls, data):
        if not isinstance(data, dict):
            raise IntakeError(None, "The body must be a JSON object.")
        for name in TEXT_FIELDS:
            value = data.get(name)
            if not isinstance(value, str) or not value.strip():
                raise IntakeError(name, "Required text.")
        received_at = data.get('received_at')
        try:
            received_at = dt.datetime.fromisoformat(received_at)
        except (TypeError, ValueError):
            raise IntakeError(
                'received_at', "Not an ISO 8601 date-time.") from None
        if received_at.tzinfo is not None:
            received_at = received_at.astimezone(dt.timezone.utc).replace(
                tzinfo=None)
        if received_at > now():
            raise IntakeError('received_at', "In the future.")
        values = {
            'intake_source': data['source'].strip(),
            'intake_external_id': data['external_id'].strip(),
            'channel': INTAKE_CHANNEL,
            'received_at': received_at.replace(microsecond=0),
            'description': data['description'],
            'contact': data.get('contact') or None,
            }
        for name in ['category', 'severity']:
            value = data.get(name)
            if value is None and name == 'severity':
                continue
            choices = {k for k, _ in getattr(cls, name).selection}
            if value not in choices:
                raise IntakeError(name, "One of %s." % ', '.join(
                        sorted(choices)))
            values[name] = value
        return values

    def intake_status(self):
        """Return what a sender may see of the complaint: its number, its
        state and, once closed, the outcome"""
        outcome = None
        if self.state == 'closed':
            outcome = {
                'closed_at': (
                    self.closed_at.isoformat() if self.closed_at else None),
                'actions': [{
                        'kind': a.kind,
                        'description': a.description,
                        } for a in self.actions],
                'actions_taken': self.actions_taken,
                'satisfaction': self.satisfaction,
                }
        return {
            'number': self.number,
            'state': self.state,
            'outcome': outcome,
            }
