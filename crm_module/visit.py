from sql import Literal, Null
from sql.aggregate import Count, Max, Min
from sql.conditionals import Case
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import add_interval, sql_date, today
from .common import CustomerRecNameMixin
from .numeric import achieved_percent
from .exceptions import VisitPolicyError, VisitValidationError

LEVELS = [
    ('executive', "Executive"),
    ('account_manager', "Account Manager"),
    ('technical', "Technical Exchange"),
    ('quality', "Quality Exchange"),
    ('after_sales', "After-Sales"),
    ]
INTERVAL_UNITS = [
    ('months', "Months"),
    ('days', "Days"),
    ]
# The shipped visit policy (doc/policy.md#account-plans-visits-and-care):
# per tier code, the minimum
# frequency of each level as (level, interval, unit); an interval of None
# allows the level without requiring it. The strategic figures are the
# rulebook's; key customers are visited half as often.
DEFAULT_VISIT_POLICY = {
    'strategic': [
        ('executive', 6, 'months'),
        ('account_manager', 1, 'months'),
        ('technical', 6, 'months'),
        ('quality', 3, 'months'),
        ('after_sales', None, 'months'),
        ],
    'key': [
        ('executive', 12, 'months'),
        ('account_manager', 2, 'months'),
        ('technical', 12, 'months'),
        ('quality', 6, 'months'),
        ('after_sales', None, 'months'),
        ],
    }
# The party field naming the employee responsible for each visit level.
LEVEL_RESPONSIBLE = {
    'executive': 'crm_account_manager',
    'account_manager': 'crm_account_manager',
    'technical': 'crm_technical_lead',
    'quality': 'crm_quality_engineer',
    'after_sales': 'crm_after_sales',
    }


class VisitPolicy(ModelSQL, ModelView):
    __name__ = 'crm.visit.policy'
    __string__ = "Visit Policy"

    tier = fields.Many2One(
        'crm.tier', "Customer Tier", required=True, ondelete='CASCADE')
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company', searcher='search_company')
    level = fields.Selection(LEVELS, "Visit Level", required=True)
    interval = fields.Integer(
        "At Least Every",
        help="The longest time allowed between two visits of this level; "
        "leave empty to allow the level without requiring it.")
    interval_unit = fields.Selection(
        INTERVAL_UNITS, "Unit", required=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('tier_level_uniq', Unique(t, t.tier, t.level),
                'crm_module.msg_visit_policy_unique'),
            ]
        cls._order = [('tier', 'ASC'), ('level', 'ASC'), ('id', 'ASC')]

    @classmethod
    def __register__(cls, module):
        created = not backend.TableHandler.table_exist(cls._table)
        super().__register__(module)
        if created:
            cls._register_defaults()

    @classmethod
    def _register_defaults(cls):
        "Give the companies that exist before the policy its shipped lines"
        pool = Pool()
        Tier = pool.get('crm.tier')
        tier = Tier.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*tier.select(tier.id, tier.code,
                where=tier.code.in_(list(DEFAULT_VISIT_POLICY))))
        rows = []
        for tier_id, code in cursor:
            for level, interval, unit in DEFAULT_VISIT_POLICY[code]:
                rows.append([tier_id, level, interval, unit,
                        0, CurrentTimestamp()])
        if rows:
            cursor.execute(*table.insert([
                        table.tier, table.level, table.interval,
                        table.interval_unit, table.create_uid,
                        table.create_date], rows))

    @classmethod
    def default_interval_unit(cls):
        return 'months'

    @fields.depends('tier', '_parent_tier.company')
    def on_change_with_company(self, name=None):
        return self.tier.company if self.tier else None

    @classmethod
    def search_company(cls, name, clause):
        return [('tier.' + clause[0], *clause[1:])]

    def get_rec_name(self, name):
        return '%s: %s' % (self.tier.rec_name, self.level_string)

    level_string = level.translated('level')

    @classmethod
    def validate_fields(cls, policies, field_names):
        super().validate_fields(policies, field_names)
        if 'interval' in field_names:
            for policy in policies:
                if policy.interval is not None and policy.interval < 1:
                    raise VisitPolicyError(gettext(
                            'crm_module.msg_visit_policy_interval',
                            policy=policy.rec_name,
                            interval=policy.interval))

    @classmethod
    def create_defaults(cls, tiers):
        "Create the shipped policy lines that tiers do not have yet"
        existing = {(p.tier, p.level) for p in cls.search([
                    ('tier', 'in', [t.id for t in tiers]),
                    ])}
        vlist = []
        for tier in tiers:
            for level, interval, unit in DEFAULT_VISIT_POLICY.get(
                    tier.code, []):
                if (tier, level) not in existing:
                    vlist.append({
                            'tier': tier.id,
                            'level': level,
                            'interval': interval,
                            'interval_unit': unit,
                            })
        return cls.create(vlist)

    @classmethod
    def levels_by_tier(cls, tier_ids):
        "Return for each tier id the levels its policy allows"
        result = {}
        for policy in cls.search([('tier', 'in', list(tier_ids))]):
            result.setdefault(policy.tier.id, set()).add(policy.level)
        return result


class Visit(ModelSQL, ModelView):
    __name__ = 'crm.visit'
    __string__ = "Customer Visit"

    company = fields.Many2One(
        'company.company', "Company", required=True)
    party = fields.Many2One(
        'party.party', "Customer", required=True, ondelete='RESTRICT',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date("Date", required=True)
    level = fields.Selection(LEVELS, "Level", required=True)
    level_string = level.translated('level')
    subject = fields.Char("Subject")
    attendees = fields.Many2Many(
        'crm.visit-company.employee', 'visit', 'employee', "Our Attendees",
        domain=[('company', '=', Eval('company', -1))])
    customer_contacts = fields.Text(
        "Customer Contacts",
        help="Who the visit met at the customer, with their positions.")
    personnel_changes = fields.Text("Personnel Changes")
    problems = fields.Text("Problems in Cooperation")
    demand = fields.Text("Product Demand")
    competitor_activity = fields.Text("Competitor Activity")
    follow_up = fields.Text("Follow-up Actions")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t,
                (t.party, Index.Equality()),
                (t.level, Index.Equality()),
                (t.date, Index.Range())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return today()

    @classmethod
    def default_level(cls):
        return 'account_manager'

    def get_rec_name(self, name):
        return '%s %s %s' % (
            self.party.rec_name, self.date.isoformat(), self.level_string)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        bool_op = 'AND' if operator.startswith(('!', 'not ')) else 'OR'
        return [bool_op,
            ('party.rec_name', operator, operand, *extra),
            ('subject', operator, operand, *extra),
            ]

    @classmethod
    def validate_fields(cls, visits, field_names):
        super().validate_fields(visits, field_names)
        if field_names & {'date', 'level', 'party'}:
            cls.check_visits(visits)

    @classmethod
    def check_visits(cls, visits):
        Policy = Pool().get('crm.visit.policy')
        now = today()
        allowed = Policy.levels_by_tier(
            {v.party.crm_tier.id for v in visits if v.party.crm_tier})
        for visit in visits:
            if visit.date > now:
                raise VisitValidationError(gettext(
                        'crm_module.msg_visit_future',
                        visit=visit.rec_name, date=visit.date.isoformat()))
            tier = visit.party.crm_tier
            levels = allowed.get(tier.id) if tier else None
            if levels and visit.level not in levels:
                raise VisitValidationError(gettext(
                        'crm_module.msg_visit_level',
                        visit=visit.rec_name, level=visit.level_string,
                        tier=tier.rec_name))


class VisitEmployee(ModelSQL):
    __name__ = 'crm.visit-company.employee'
    __string__ = "Visit - Employee"

    visit = fields.Many2One(
        'crm.visit', "Visit", required=True, ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Employee", required=True, ondelete='CASCADE')


class VisitCompliance(CustomerRecNameMixin, ModelSQL, ModelView):
    """Per customer and required level: the last visit and when the next
    one is due.

    The rows come from SQL; the due date is computed in Python because
    adding months must stop at the end of shorter months the same way on
    every database.
    """
    __name__ = 'crm.visit.compliance'
    __string__ = "Visit Compliance"

    company = fields.Many2One('company.company', "Company", readonly=True)
    party = fields.Many2One(
        'party.party', "Customer", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    tier = fields.Many2One('crm.tier', "Customer Tier", readonly=True)
    level = fields.Selection(LEVELS, "Level", readonly=True)
    level_string = level.translated('level')
    account_manager = fields.Many2One(
        'company.employee', "Key Account Manager", readonly=True)
    interval = fields.Integer("At Least Every", readonly=True)
    interval_unit = fields.Selection(
        INTERVAL_UNITS, "Unit", readonly=True)
    last_visit = fields.Date("Last Visit", readonly=True)
    tier_since = fields.Date("Tier Since", readonly=True)
    next_due = fields.Function(
        fields.Date(
            "Next Due",
            help="The last visit plus the interval; without a visit, the "
            "date the customer got its tier plus the interval."),
        'get_due')
    overdue_days = fields.Function(
        fields.Integer("Overdue Days"), 'get_due')
    overdue = fields.Function(
        fields.Boolean("Overdue"), 'get_due', searcher='search_overdue')
    responsible = fields.Function(
        fields.Many2One('company.employee', "Responsible"),
        'get_responsible')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('last_visit', 'ASC NULLS FIRST'), ('party', 'ASC'),
            ('level', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        Policy = pool.get('crm.visit.policy')
        Visit = pool.get('crm.visit')
        party = Party.__table__()
        tier = Tier.__table__()
        policy = Policy.__table__()
        visit = Visit.__table__()

        last = visit.select(
            visit.company, visit.party, visit.level,
            Max(visit.date).as_('date'),
            group_by=[visit.company, visit.party, visit.level])
        level_index = Case(*((policy.level == level, i)
                for i, (level, _) in enumerate(LEVELS, 1)),
            else_=0)
        return (party
            .join(tier, condition=party.crm_tier == tier.id)
            .join(policy, condition=(policy.tier == tier.id)
                & (policy.interval != Null))
            .join(last, 'LEFT', condition=(last.party == party.id)
                & (last.level == policy.level)
                & (last.company == tier.company))
            .select(
                (party.id * 10 + level_index).as_('id'),
                Literal(0).as_('create_uid'),
                CurrentTimestamp().as_('create_date'),
                cls.write_uid.sql_cast(Literal(Null)).as_('write_uid'),
                cls.write_date.sql_cast(Literal(Null)).as_('write_date'),
                tier.company.as_('company'),
                party.id.as_('party'),
                tier.id.as_('tier'),
                policy.level.as_('level'),
                party.crm_account_manager.as_('account_manager'),
                policy.interval.as_('interval'),
                policy.interval_unit.as_('interval_unit'),
                last.date.as_('last_visit'),
                party.crm_tier_since.as_('tier_since'),
                where=party.active == Literal(True)))

    @staticmethod
    def compute_due(last_visit, tier_since, interval, unit, date):
        """Return the next due date, the overdue days and whether it is
        overdue on date; a customer never visited and without tier date is
        overdue since an unknown day"""
        base = last_visit or tier_since
        if not base:
            return None, None, True
        due = add_interval(base, interval, unit)
        days = (date - due).days
        return due, max(days, 0), days > 0

    @classmethod
    def get_due(cls, records, names):
        date = today()
        result = {n: {} for n in names}
        for record in records:
            due, days, overdue = cls.compute_due(record.last_visit,
                record.tier_since, record.interval, record.interval_unit,
                date)
            values = {
                'next_due': due, 'overdue_days': days, 'overdue': overdue}
            for name in names:
                result[name][record.id] = values[name]
        return result

    @classmethod
    def search_overdue(cls, name, clause):
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        date = today()
        query = cls.table_query()
        cursor = Transaction().connection.cursor()
        cursor.execute(*query.select(query.id, query.last_visit,
                query.tier_since, query.interval, query.interval_unit))
        ids = [id_ for id_, last_visit, since, interval, unit in cursor
            if cls.compute_due(sql_date(last_visit), sql_date(since), interval,
                unit, date)[2]]
        return [('id', 'in' if wanted else 'not in', ids)]

    @classmethod
    def period_figures(cls, rows, from_date, to_date):
        """Return for each row (company, party, level, interval, unit) the
        visits required in the period and the visits done in it, at most
        the required number"""
        pool = Pool()
        Visit = pool.get('crm.visit')
        visit = Visit.__table__()
        cursor = Transaction().connection.cursor()
        done_counts = {}
        parties = list({r[1] for r in rows})
        for sub_ids in grouped_slice(parties, backend.MAX_QUERY_PARAMS):
            cursor.execute(*visit.select(
                    visit.company, visit.party, visit.level, Count(Literal(1)),
                    where=visit.party.in_(list(sub_ids))
                    & (visit.date >= from_date) & (visit.date <= to_date),
                    group_by=[visit.company, visit.party, visit.level]))
            for company, party, level, count in cursor:
                done_counts[company, party, level] = count
        figures, requirements = [], {}
        for company, party, level, interval, unit in rows:
            # Many rows share a policy: count its windows once.
            needed = requirements.get((interval, unit))
            if needed is None:
                needed = requirements[interval, unit] = required_visits(
                    interval, unit, from_date, to_date)
            figures.append((needed,
                    min(done_counts.get((company, party, level), 0), needed)))
        return figures

    def get_responsible(self, name):
        employee = getattr(self.party, LEVEL_RESPONSIBLE[self.level], None)
        if not employee:
            employee = self.party.crm_account_manager
        return employee.id if employee else None


def required_visits(interval, unit, from_date, to_date):
    """Return how many visits an interval requires in a period: one for
    each window of the interval that starts in the period"""
    if not interval or from_date > to_date:
        return 0
    count, start = 0, from_date
    while start <= to_date:
        count += 1
        try:
            start = add_interval(from_date, interval * count, unit)
        except (OverflowError, ValueError):
            break  # the next window starts after the last date there is
    return count


class ComplianceContext(ModelView):
    __name__ = 'crm.visit.compliance.context'
    __string__ = "Visit Compliance Context"

    from_date = fields.Date(
        "From Date", required=True,
        domain=[('from_date', '<=', Eval('to_date', None))])
    to_date = fields.Date(
        "To Date", required=True,
        domain=[('to_date', '>=', Eval('from_date', None))])

    @classmethod
    def default_from_date(cls):
        date = Transaction().context.get('from_date')
        if date:
            return date
        date = today()
        return date.replace(month=1 if date.month <= 6 else 7, day=1)

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date') or today()


class ManagerCompliance(ModelSQL, ModelView):
    "Per key account manager: the share of required visits done in a period"
    __name__ = 'crm.visit.compliance.manager'
    __string__ = "Visit Compliance by Account Manager"

    company = fields.Many2One('company.company', "Company", readonly=True)
    employee = fields.Many2One(
        'company.employee', "Key Account Manager", readonly=True)
    customers = fields.Integer("Customers", readonly=True)
    required = fields.Function(
        fields.Integer(
            "Required Visits",
            help="One visit per level for each interval of the policy that "
            "starts in the period."),
        'get_compliance')
    done = fields.Function(
        fields.Integer(
            "Visits Done",
            help="Visits in the period, at most the required number per "
            "customer and level."),
        'get_compliance')
    rate = fields.Function(
        fields.Numeric("Compliance %", digits=(5, 2)), 'get_compliance')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('employee', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        Compliance = Pool().get('crm.visit.compliance')
        query = Compliance.table_query()
        return query.select(
            query.account_manager.as_('id'),
            Literal(0).as_('create_uid'),
            CurrentTimestamp().as_('create_date'),
            cls.write_uid.sql_cast(Literal(Null)).as_('write_uid'),
            cls.write_date.sql_cast(Literal(Null)).as_('write_date'),
            Min(query.company).as_('company'),
            query.account_manager.as_('employee'),
            Count(query.party, distinct=True).as_('customers'),
            where=query.account_manager != Null,
            group_by=[query.account_manager])

    @classmethod
    def _period(cls):
        context = Transaction().context
        from_date = sql_date(context.get('from_date'))
        to_date = sql_date(context.get('to_date')) or today()
        if not from_date:
            from_date = to_date.replace(
                month=1 if to_date.month <= 6 else 7, day=1)
        return from_date, to_date

    @classmethod
    def get_compliance(cls, managers, names):
        pool = Pool()
        Compliance = pool.get('crm.visit.compliance')
        cursor = Transaction().connection.cursor()
        from_date, to_date = cls._period()

        query = Compliance.table_query()
        rows = []
        for sub_ids in grouped_slice(
                [m.id for m in managers], backend.MAX_QUERY_PARAMS):
            cursor.execute(*query.select(query.account_manager,
                    query.company, query.party, query.level, query.interval,
                    query.interval_unit,
                    where=query.account_manager.in_(list(sub_ids))))
            rows.extend(cursor)
        figures = Compliance.period_figures(
            [r[1:] for r in rows], from_date, to_date)

        required = {m.id: 0 for m in managers}
        done = {m.id: 0 for m in managers}
        for (manager, *_), (needed, visited) in zip(
                rows, figures, strict=True):
            required[manager] += needed
            done[manager] += visited
        result = {n: {} for n in names}
        for manager in managers:
            values = {
                'required': required[manager.id],
                'done': done[manager.id],
                'rate': achieved_percent(done[manager.id], required[manager.id]),
                }
            for name in names:
                result[name][manager.id] = values[name]
        return result
