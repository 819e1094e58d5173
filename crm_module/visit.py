import datetime as dt
import json

from sql import Literal, Null
from sql.aggregate import Count, Max, Min
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .clock import add_interval, month_add, sql_date, today
from .common import CustomerRecNameMixin, column_added
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
# The ways of contact a visit record keeps; each policy line says which of
# them count as a visit of its level.
WAYS = [
    ('visit', "On-Site Visit"),
    ('video', "Video Meeting"),
    ('phone', "Phone"),
    ('email', "E-mail"),
    ('sms', "SMS"),
    ]
DEFAULT_COUNTING_WAYS = ['video', 'visit']
# The shipped visit policy (doc/policy.md#account-plans-visits-and-care):
# per tier code, the minimum frequency of each level as (level, interval,
# unit); an interval of None allows the level without requiring it. The
# figures are the rulebook's for strategic customers, and key customers
# follow the same rules.
_STRATEGIC_POLICY = [
    ('executive', 6, 'months'),
    ('account_manager', 1, 'months'),
    ('technical', 6, 'months'),
    ('quality', 3, 'months'),
    ('after_sales', None, 'months'),
    ]
DEFAULT_VISIT_POLICY = {
    'strategic': _STRATEGIC_POLICY,
    'key': _STRATEGIC_POLICY,
    }
# What releases before 3/7 shipped for key customers, found in no
# rulebook: a key policy still equal to it was never edited and becomes
# the strategic one on update.
_FORMER_KEY_POLICY = {
    ('executive', 12, 'months'),
    ('account_manager', 2, 'months'),
    ('technical', 12, 'months'),
    ('quality', 6, 'months'),
    ('after_sales', None, 'months'),
    }
# Calendar windows of the intervals that divide none of a month, a
# quarter, a half-year or a year are counted from this day.
WINDOW_EPOCH = dt.date(2000, 1, 1)
# The party field naming the employee responsible for each visit level.
LEVEL_RESPONSIBLE = {
    'executive': 'crm_executive_sponsor',
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
    ways = fields.MultiSelection(
        WAYS, "Counting Ways", sort=False,
        help="The ways of contact that count as a visit of this level; "
        "other contacts are recorded but do not make the level "
        "compliant. The shipped policy counts on-site visits and video "
        "meetings.")

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
        # Releases before 3/7 knew no ways of contact.
        upgraded = column_added(cls, module, 'ways')
        super().__register__(module)
        if created:
            cls._register_defaults()
        elif upgraded:
            cls._migrate_ways_and_key_policy()

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
                        cls.ways.sql_format(DEFAULT_COUNTING_WAYS),
                        0, CurrentTimestamp()])
        if rows:
            cursor.execute(*table.insert([
                        table.tier, table.level, table.interval,
                        table.interval_unit, table.ways, table.create_uid,
                        table.create_date], rows))

    @classmethod
    def _migrate_ways_and_key_policy(cls):
        """Count on-site visits and video meetings on every line, and give
        the key tiers whose policy is still the one shipped before 3/7 the
        strategic policy"""
        pool = Pool()
        Tier = pool.get('crm.tier')
        tier = Tier.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.ways],
                [cls.ways.sql_format(DEFAULT_COUNTING_WAYS)]))
        cursor.execute(*table.join(tier, condition=table.tier == tier.id
                ).select(table.tier, table.level, table.interval,
                table.interval_unit, where=tier.code == 'key'))
        lines = {}
        for tier_id, level, interval, unit in cursor:
            lines.setdefault(tier_id, set()).add((level, interval, unit))
        strategic = {level: (interval, unit)
            for level, interval, unit in DEFAULT_VISIT_POLICY['key']}
        for tier_id, policy in lines.items():
            if policy != _FORMER_KEY_POLICY:
                continue  # edited by the company: kept as it is
            for level, (interval, unit) in strategic.items():
                cursor.execute(*table.update(
                        [table.interval, table.interval_unit],
                        [interval, unit],
                        where=(table.tier == tier_id)
                        & (table.level == level)))

    @classmethod
    def default_interval_unit(cls):
        return 'months'

    @classmethod
    def default_ways(cls):
        return list(DEFAULT_COUNTING_WAYS)

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
        if field_names & {'interval', 'ways'}:
            for policy in policies:
                if policy.interval is not None and not policy.ways:
                    raise VisitPolicyError(gettext(
                            'crm_module.msg_visit_policy_ways',
                            policy=policy.rec_name))

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
                            'ways': list(DEFAULT_COUNTING_WAYS),
                            })
        return cls.create(vlist)

    @classmethod
    def counts(cls, policy, visit):
        """Return the SQL condition that the visit row is made in a way the
        policy row counts: per set of ways the policy rows share (one as
        shipped), the policy ids and the ways as lists, which the database
        compares much faster than the ways' JSON text row by row"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.ways))
        by_ways = {}
        for policy_id, ways in cursor:
            ways = cls._ways_of(ways)
            if ways:
                by_ways.setdefault(tuple(sorted(ways)), []).append(policy_id)
        condition = Literal(False)
        for ways, ids in by_ways.items():
            condition |= policy.id.in_(ids) & visit.way.in_(list(ways))
        return condition

    @staticmethod
    def _ways_of(value):
        "The ways of a policy row as stored (a JSON list of strings)"
        if not value:
            return []
        if isinstance(value, str):
            return json.loads(value)
        return list(value)

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
    way = fields.Selection(
        WAYS, "Way of Contact", required=True, sort=False,
        help="How the contact took place; the visit policy of the "
        "customer's tier says which ways count as a visit.")
    way_string = way.translated('way')
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

    @classmethod
    def default_way(cls):
        return 'visit'

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
    """Per customer and required level: the last visit, when the next one
    is due and who answers for it.

    The rows come from SQL, and so do the searches; the due date shown is
    computed in Python because adding months must stop at the end of
    shorter months the same way on every database.
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
    responsible = fields.Many2One(
        'company.employee', "Responsible", readonly=True,
        help="The employee the customer names for the level (executive "
        "sponsor, key account manager, technical lead, quality engineer, "
        "after-sales contact); the key account manager while none is "
        "named.")
    unassigned = fields.Boolean(
        "Unassigned", readonly=True,
        help="The customer names nobody for this level: it is charged to "
        "the key account manager until someone is named.")
    interval = fields.Integer("At Least Every", readonly=True)
    interval_unit = fields.Selection(
        INTERVAL_UNITS, "Unit", readonly=True)
    last_visit = fields.Date(
        "Last Visit", readonly=True,
        help="The last contact of the level made in a way the policy "
        "counts as a visit.")
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

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('last_visit', 'ASC NULLS FIRST'), ('party', 'ASC'),
            ('level', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _last_visits(cls):
        """Return the SQL query of the last visit per company, party and
        level made in a way the policy of the party's tier counts"""
        pool = Pool()
        Party = pool.get('party.party')
        Policy = pool.get('crm.visit.policy')
        Visit = pool.get('crm.visit')
        party = Party.__table__()
        policy = Policy.__table__()
        visit = Visit.__table__()
        return visit.join(party, condition=visit.party == party.id
            ).join(policy, condition=(policy.tier == party.crm_tier)
                & (policy.level == visit.level)
            ).select(
                visit.company.as_('company'), visit.party.as_('party'),
                visit.level.as_('level'), Max(visit.date).as_('date'),
                where=Policy.counts(policy, visit),
                group_by=[visit.company, visit.party, visit.level])

    @classmethod
    def table_query(cls, last_visits=None):
        """Return the query of the rows; without the last visits (a NULL
        last_visit) when last_visits is False or, by default, when the
        context key _crm_without_last_visit is set: the figures of a period
        and the record rules do not need them, and they are the costly part
        (every visit ever recorded)"""
        pool = Pool()
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        Policy = pool.get('crm.visit.policy')
        party = Party.__table__()
        tier = Tier.__table__()
        policy = Policy.__table__()
        if last_visits is None:
            last_visits = not Transaction().context.get(
                '_crm_without_last_visit')

        level_index = Case(*((policy.level == level, i)
                for i, (level, _) in enumerate(LEVELS, 1)),
            else_=0)
        person = Case(*((policy.level == level, getattr(party, field))
                for level, field in LEVEL_RESPONSIBLE.items()))
        from_ = (party
            .join(tier, condition=party.crm_tier == tier.id)
            .join(policy, condition=(policy.tier == tier.id)
                & (policy.interval != Null)))
        if last_visits:
            last = cls._last_visits()
            from_ = from_.join(last, 'LEFT', condition=(last.party == party.id)
                & (last.level == policy.level)
                & (last.company == tier.company))
            last_visit = last.date
        else:
            last_visit = cls.last_visit.sql_cast(Literal(Null))
        return (from_
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
                Coalesce(person, party.crm_account_manager).as_(
                    'responsible'),
                Case((person == Null, Literal(True)),
                    else_=Literal(False)).as_('unassigned'),
                policy.interval.as_('interval'),
                policy.interval_unit.as_('interval_unit'),
                last_visit.as_('last_visit'),
                party.crm_tier_since.as_('tier_since'),
                where=party.active == Literal(True)))

    @classmethod
    def _before_read(cls, ids, fields_names):
        ids, fields_names = super()._before_read(ids, fields_names)
        # The due fields come from these columns: read them with the list
        # rather than by a second evaluation of the view in get_due.
        if {'next_due', 'overdue_days', 'overdue'} & set(fields_names):
            fields_names = list(fields_names) + [f for f in (
                    'last_visit', 'tier_since', 'interval', 'interval_unit')
                if f not in fields_names]
        return ids, fields_names

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
        """Search in SQL: for each interval of the policy, the latest base
        date (last visit, or tier date) that is overdue today; a domain on
        the view's own columns, so that the search and its count evaluate
        the view once"""
        Policy = Pool().get('crm.visit.policy')
        _, operator, value = clause
        wanted = (operator == '=') == bool(value)
        date = today()
        policy = Policy.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*policy.select(
                policy.interval, policy.interval_unit,
                where=policy.interval != Null,
                group_by=[policy.interval, policy.interval_unit]))
        intervals = cursor.fetchall()
        if wanted:
            domain = ['OR',
                [('last_visit', '=', None), ('tier_since', '=', None)]]
            for interval, unit in intervals:
                base = latest_overdue_base(interval, unit, date)
                domain.append([
                        ('interval', '=', interval),
                        ('interval_unit', '=', unit),
                        ['OR',
                            ('last_visit', '<=', base),
                            [('last_visit', '=', None),
                                ('tier_since', '<=', base)],
                            ],
                        ])
            return domain
        domain = [['OR',
                ('last_visit', '!=', None), ('tier_since', '!=', None)]]
        for interval, unit in intervals:
            base = latest_overdue_base(interval, unit, date)
            domain.append(['OR',
                    ('interval', '!=', interval),
                    ('interval_unit', '!=', unit),
                    ('last_visit', '>', base),
                    [('last_visit', '=', None), ('tier_since', '>', base)],
                    ])
        return domain

    @classmethod
    def period_figures(cls, rows, from_date, to_date):
        """Return for each row (company, party, level, interval, unit) the
        windows of the interval required in the period and those done.

        A window is required in the period in which it ends and done when
        a visit of the level, made in a way the policy counts, falls inside
        it; each window counts once.
        """
        windows = {(interval, unit): calendar_windows(
                interval, unit, from_date, to_date)
            for interval, unit in {(r[3], r[4]) for r in rows}}
        parties = sorted({r[1] for r in rows})
        done = cls._windows_done(parties, windows, to_date)
        return [(len(windows[interval, unit]),
                done.get((company, party, level), 0))
            for company, party, level, interval, unit in rows]

    @classmethod
    def _windows_done(cls, parties, windows, to_date):
        """Return per (company, party, level) the number of required
        windows (per interval, unit) a counting visit falls in"""
        pool = Pool()
        Party = pool.get('party.party')
        Tier = pool.get('crm.tier')
        Policy = pool.get('crm.visit.policy')
        Visit = pool.get('crm.visit')
        party = Party.__table__()
        tier = Tier.__table__()
        policy = Policy.__table__()
        visit = Visit.__table__()
        numbered = [(pair, start, end)
            for pair, pair_windows in windows.items()
            for start, end in pair_windows]
        if not numbered:
            return {}
        window = Case(*(((policy.interval == interval)
                    & (policy.interval_unit == unit)
                    & (visit.date >= start) & (visit.date <= end), i)
                for i, ((interval, unit), start, end)
                in enumerate(numbered)))
        earliest = min(start for _, start, _ in numbered)
        cursor = Transaction().connection.cursor()
        result = {}
        # Beyond one slice of parties, one query of every party's visits
        # in the period, those of other parties left out here, costs less
        # than a query per slice.
        slices = ([None] if len(parties) > backend.MAX_QUERY_PARAMS
            else grouped_slice(parties, backend.MAX_QUERY_PARAMS))
        wanted = set(parties)
        for sub_ids in slices:
            where = ((visit.date >= earliest) & (visit.date <= to_date)
                & Policy.counts(policy, visit))
            if sub_ids is not None:
                where &= visit.party.in_(list(sub_ids))
            cursor.execute(*visit
                .join(party, condition=visit.party == party.id)
                .join(tier, condition=(party.crm_tier == tier.id)
                    & (tier.company == visit.company))
                .join(policy, condition=(policy.tier == tier.id)
                    & (policy.level == visit.level))
                .select(visit.company, visit.party, visit.level,
                    Count(window, distinct=True),
                    where=where,
                    group_by=[visit.company, visit.party, visit.level]))
            for company, party_id, level, count in cursor:
                if party_id in wanted:
                    result[company, party_id, level] = count
        return result


def calendar_window(date, interval, unit):
    """Return the first and last day of the calendar window of interval
    (months or days) that holds date: months, quarters, half-years and
    years for intervals dividing a year, otherwise windows counted from
    WINDOW_EPOCH"""
    if unit == 'days':
        index = (date - WINDOW_EPOCH).days // interval
        start = WINDOW_EPOCH + dt.timedelta(days=index * interval)
        return start, start + dt.timedelta(days=interval - 1)
    months = (date.year - WINDOW_EPOCH.year) * 12 + date.month - 1
    start = month_add(WINDOW_EPOCH, months // interval * interval)
    return start, month_add(start, interval) - dt.timedelta(days=1)


def current_month_end():
    """Return the last day of today's month: the default end of the
    compliance period, the end of the window of this month's visits"""
    return month_add(today().replace(day=1), 1) - dt.timedelta(days=1)


def calendar_windows(interval, unit, from_date, to_date):
    """Return the (start, end) of the calendar windows of interval that
    end in the period from from_date to to_date, oldest first"""
    result = []
    if not interval or from_date > to_date:
        return result
    try:
        start, end = calendar_window(from_date, interval, unit)
        while end <= to_date:
            result.append((start, end))
            start, end = calendar_window(
                end + dt.timedelta(days=1), interval, unit)
    except (OverflowError, ValueError):
        pass  # the next window ends after the last date there is
    return result


def latest_overdue_base(interval, unit, date):
    """Return the latest day whose due date (the day plus interval) is
    before date: the visits on or before it are overdue on date"""
    if unit == 'days':
        return date - dt.timedelta(days=interval + 1)
    # Adding months is not reversible at the end of months: start from
    # the same day interval months back and step to the last such day.
    months = date.year * 12 + date.month - 1 - interval
    base = date.replace(year=months // 12, month=months % 12 + 1, day=1)
    base += dt.timedelta(days=date.day - 1)
    while add_interval(base, interval, unit) >= date:
        base -= dt.timedelta(days=1)
    while add_interval(base + dt.timedelta(days=1), interval, unit) < date:
        base += dt.timedelta(days=1)
    return base


class ComplianceContext(ModelView):
    __name__ = 'crm.visit.compliance.context'
    __string__ = "Visit Compliance Context"

    from_date = fields.Date(
        "From Date", required=True,
        domain=[('from_date', '<=', Eval('to_date', None))])
    to_date = fields.Date(
        "To Date", required=True,
        domain=[('to_date', '>=', Eval('from_date', None))],
        help="The windows ending on or before this day are required. The "
        "end of the current month by default, so that this month's visits "
        "count as soon as they are made.")

    @classmethod
    def default_from_date(cls):
        date = Transaction().context.get('from_date')
        if date:
            return date
        date = today()
        return date.replace(month=1 if date.month <= 6 else 7, day=1)

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date') or current_month_end()


class ManagerCompliance(ModelSQL, ModelView):
    """Per responsible employee: the share of the required visit windows
    done in a period; the levels a customer names nobody for are charged
    to its key account manager on a row of their own"""
    __name__ = 'crm.visit.compliance.manager'
    __string__ = "Visit Compliance by Responsible"

    company = fields.Many2One('company.company', "Company", readonly=True)
    employee = fields.Many2One(
        'company.employee', "Responsible", readonly=True,
        help="The employee answering for the levels, or the key account "
        "manager for the unassigned levels.")
    unassigned = fields.Boolean(
        "Unassigned Levels", readonly=True,
        help="The levels the customers name nobody for, charged to the "
        "key account manager until someone is named.")
    customers = fields.Integer("Customers", readonly=True)
    required = fields.Function(
        fields.Integer(
            "Required Visits",
            help="One visit per level for each calendar window of the "
            "policy (month, quarter, half-year, year) that ends in the "
            "period."),
        'get_compliance')
    done = fields.Function(
        fields.Integer(
            "Visits Done",
            help="The required windows with a visit of the level inside "
            "them, each window counted once."),
        'get_compliance')
    rate = fields.Function(
        fields.Numeric("Compliance %", digits=(5, 2)), 'get_compliance')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('employee', 'ASC NULLS LAST'), ('unassigned', 'ASC'),
            ('id', 'ASC')]

    @staticmethod
    def _row_id(responsible, unassigned):
        "The SQL id of the row of a responsible and unassigned flag"
        return (Coalesce(responsible, 0) * 2
            + Case((unassigned == Literal(True), 1), else_=0))

    @classmethod
    def table_query(cls):
        Compliance = Pool().get('crm.visit.compliance')
        query = Compliance.table_query(last_visits=False)
        return query.select(
            cls._row_id(query.responsible, query.unassigned).as_('id'),
            Literal(0).as_('create_uid'),
            CurrentTimestamp().as_('create_date'),
            cls.write_uid.sql_cast(Literal(Null)).as_('write_uid'),
            cls.write_date.sql_cast(Literal(Null)).as_('write_date'),
            Min(query.company).as_('company'),
            query.responsible.as_('employee'),
            query.unassigned.as_('unassigned'),
            Count(query.party, distinct=True).as_('customers'),
            group_by=[query.responsible, query.unassigned])

    @classmethod
    def _period(cls):
        context = Transaction().context
        from_date = sql_date(context.get('from_date'))
        to_date = sql_date(context.get('to_date')) or current_month_end()
        if not from_date:
            from_date = to_date.replace(
                month=1 if to_date.month <= 6 else 7, day=1)
        return from_date, to_date

    @classmethod
    def get_compliance(cls, rows, names):
        Compliance = Pool().get('crm.visit.compliance')
        cursor = Transaction().connection.cursor()
        from_date, to_date = cls._period()

        # One query of the lines of every row (without last visits, a
        # cheap join), those of the other rows left out here.
        query = Compliance.table_query(last_visits=False)
        row_id = cls._row_id(query.responsible, query.unassigned)
        wanted = {r.id for r in rows}
        cursor.execute(*query.select(row_id, query.company,
                query.party, query.level, query.interval,
                query.interval_unit))
        lines = [line for line in cursor if line[0] in wanted]
        figures = Compliance.period_figures(
            [line[1:] for line in lines], from_date, to_date)

        required = {r.id: 0 for r in rows}
        done = {r.id: 0 for r in rows}
        for (id_, *_), (needed, visited) in zip(
                lines, figures, strict=True):
            required[id_] += needed
            done[id_] += visited
        result = {n: {} for n in names}
        for row in rows:
            values = {
                'required': required[row.id],
                'done': done[row.id],
                'rate': achieved_percent(done[row.id], required[row.id]),
                }
            for name in names:
                result[name][row.id] = values[name]
        return result
