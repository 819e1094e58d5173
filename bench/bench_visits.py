"""Benchmark of the visit compliance screens and report on a year of visits.

    .venv/bin/python -m bench.bench_visits [--backend sqlite|postgresql]
        [--customers 10000] [--repeat 3] [--profile] [--check]

Builds a throw-away database as bench_evaluation does (SQLite in a
temporary folder, or the database crm_bench_visits on the PostgreSQL of
CRM_BENCH_POSTGRESQL_URI or of ``.ci/postgres.sh url``), activates
crm_module with trytond-admin, creates the company in CNY, the account
teams (employees, through the ORM), --customers strategic and key
customers (inserted with SQL, with their tier, tier history and account
team) and a year of visits up to today (inserted with SQL), then times,
each the median of --repeat runs in its own transaction, commit included,
with the access checks of an RPC call:

1. the manager screen: search and read of crm.visit.compliance.manager
   (Visit Compliance by Responsible) for the last complete half-year, the
   fields of its list view;
2. the overdue list: search of crm.visit.compliance [('overdue', '=',
   True)], first 1000 rows, read of its list view's fields, and its count;
3. the customers to re-contact: the same on crm.last_contact
   [('dormant', '=', True)], and party.party [('crm_dormant', '=', True)];
4. through trytond and the API on loopback (as bench_reports runs them):
   GET /api/v1/reports/visits?period=<half-year> as JSON and CSV, end to
   end over HTTP, and the ERP route alone.

Target of the issue: each under 2 s on the 2-core machine. It prints a
table and one line ``RESULT {json}`` (see bench/README.md); --check exits 1
when a target is missed or the figures disagree.
"""

import argparse
import datetime as dt
import functools
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.bench_evaluation import (
    PostgreSQLTarget,
    Profiler,
    SQLiteTarget,
    activate_with_company,
    chunks,
    log,
    peak_rss_mb,
    transaction,
)
from bench.bench_reports import measure, start_api, start_erp

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "crm_bench_visits"
TARGET = 2.0
# The client's list limit (tryton and sao: client.limit).
CLIENT_LIMIT = 1000
# Ways of contact; the shipped policy counts on-site visits and video calls.
COUNTING_WAYS = ("visit", "video")
OTHER_WAYS = ("phone", "email", "sms")
# Behaviours of the account teams (share of the customers)
BEHAVIOURS = [
    ("diligent", 0.75),  # every level visited at or above the policy's rate
    ("patchy", 0.15),  # about two windows in three
    ("lapsed", 0.05),  # visits stopped 2-7 months ago; phone calls go on
    ("silent", 0.02),  # every contact stopped 3-8 months ago: dormant
    ("new", 0.03),  # tier given 10-80 days ago
]
# Per level: months between the planned visits and the chance that a
# diligent and a patchy team make each of them
VISIT_PLAN = {
    "account_manager": (1, 0.97, 0.65),
    "technical": (3, 0.9, 0.6),
    "quality": (3, 0.95, 0.6),
    "executive": (6, 0.9, 0.5),
    "after_sales": (3, 0.3, 0.2),
}
SUBJECTS = {
    "account_manager": "Monthly account review",
    "technical": "Technical exchange",
    "quality": "Quality review",
    "executive": "Executive meeting",
    "after_sales": "After-sales visit",
}


# --- data ----------------------------------------------------------------


@dataclass
class Customer:
    code: str
    tier: str  # strategic or key
    behaviour: str
    tier_since: dt.date
    # index of the employee in each team, None when nobody is named
    team: dict = field(default_factory=dict)
    # the day after which the team stops visiting, or contacting at all
    visits_until: dt.date | None = None
    contacts_until: dt.date | None = None


def team_sizes(customers):
    "Number of employees per role for a count of customers"
    return {
        "account_manager": max(1, customers // 100),
        "technical": max(1, customers // 250),
        "quality": max(1, customers // 250),
        "executive": max(1, customers // 1000),
        "after_sales": max(1, customers // 500),
    }


def make_customers(count, today, seed):
    """Return the customers: 5 % strategic, the others key; an account
    manager for nearly all, the other roles named for most of them"""
    rng = random.Random(f"{seed}-customers")
    sizes = team_sizes(count)
    names, weights = zip(*BEHAVIOURS, strict=True)
    customers = []
    for i in range(1, count + 1):
        tier = "strategic" if rng.random() < 0.05 else "key"
        behaviour = rng.choices(names, weights)[0]
        if behaviour == "new":
            since = today - dt.timedelta(days=rng.randint(10, 80))
        else:
            since = today - dt.timedelta(days=rng.randint(400, 1500))
        named = {
            "account_manager": 0.995,
            "technical": 0.85,
            "quality": 0.85,
            "executive": 1.0 if tier == "strategic" else 0.6,
            "after_sales": 0.6,
        }
        team = {
            role: rng.randrange(sizes[role]) if rng.random() < share else None
            for role, share in named.items()
        }
        customer = Customer(f"V{i:05d}", tier, behaviour, since, team)
        if behaviour == "lapsed":
            customer.visits_until = today - dt.timedelta(days=rng.randint(60, 210))
        elif behaviour == "silent":
            customer.contacts_until = today - dt.timedelta(days=rng.randint(95, 250))
            customer.visits_until = customer.contacts_until
        customers.append(customer)
    return customers


def month_start(date, months=0):
    index = date.year * 12 + date.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def make_visits(customers, today, seed):
    """Return the visits of the year up to today as (customer, date, level,
    way): planned visits of each level on calendar windows of its plan
    (monthly, quarterly, half-yearly) on a random day, on site or by video,
    and phone calls, e-mails and SMS that count as no visit"""
    rng = random.Random(f"{seed}-visits")
    first_day = today - dt.timedelta(days=365)
    visits = []
    for customer in customers:
        start = max(first_day, customer.tier_since)
        visits_until = customer.visits_until or today
        contacts_until = customer.contacts_until or today
        for level, (months, diligent, patchy) in VISIT_PLAN.items():
            chance = patchy if customer.behaviour == "patchy" else diligent
            window = month_start(start)
            window = month_start(window, -((window.month - 1) % months))
            while window <= today:
                end = month_start(window, months) - dt.timedelta(days=1)
                low, high = max(window, start), min(end, visits_until)
                if low <= high and rng.random() < chance:
                    day = low + dt.timedelta(days=rng.randint(0, (high - low).days))
                    way = "visit" if rng.random() < 0.7 else "video"
                    visits.append((customer, day, level, way))
                window = month_start(window, months)
        # Calls and messages, about one a month, of the account manager
        # mostly: recorded, never counted
        days = (contacts_until - start).days
        for _ in range(max(0, round(days / 30 * rng.uniform(0.5, 1.5)))):
            day = start + dt.timedelta(days=rng.randint(0, max(days, 0)))
            level = "account_manager" if rng.random() < 0.8 else "after_sales"
            visits.append((customer, day, level, rng.choice(OTHER_WAYS)))
    return visits


# --- the expected figures, from the generated data --------------------------


def expected_figures(customers, visits, policy, today, from_date, to_date):
    """Return the overdue rows and the required and done windows of the
    period, computed from the generated visits with the module's own
    calendar rules (crm_module.visit.calendar_windows, add_interval)"""
    from crm_module.clock import add_interval
    from crm_module.visit import calendar_windows

    counting = defaultdict(list)
    for customer, day, level, way in visits:
        if way in policy.get((customer.tier, level), (None, None, ()))[2]:
            counting[customer.code, level].append(day)
    windows = {}
    overdue = required = done = 0
    for customer in customers:
        for (tier, level), (interval, unit, _) in policy.items():
            if tier != customer.tier or interval is None:
                continue
            days = counting.get((customer.code, level), [])
            base = max(days, default=None) or customer.tier_since
            overdue += today > add_interval(base, interval, unit)
            key = interval, unit
            if key not in windows:
                windows[key] = calendar_windows(interval, unit, from_date, to_date)
            required += len(windows[key])
            done += sum(any(s <= d <= e for d in days) for s, e in windows[key])
    return {"overdue": overdue, "required": required, "done": done}


# --- loading -----------------------------------------------------------------


def create_teams(pool, company_id, sizes):
    "Create the employees of each role through the ORM; return their ids"
    Party = pool.get("party.party")
    Employee = pool.get("company.employee")
    titles = {
        "account_manager": "Account Manager",
        "technical": "Technical Lead",
        "quality": "Quality Engineer",
        "executive": "Executive",
        "after_sales": "After-Sales",
    }
    people = [(role, i) for role, size in sizes.items() for i in range(size)]
    parties = Party.create(
        [{"name": f"{titles[role]} {i + 1:03d}"} for role, i in people]
    )
    employees = Employee.create(
        [
            {
                "party": party.id,
                "company": company_id,
                "crm_management": role == "executive",
            }
            for (role, _), party in zip(people, parties, strict=True)
        ]
    )
    teams = defaultdict(list)
    for (role, _), employee in zip(people, employees, strict=True):
        teams[role].append(employee.id)
    return teams


def insert_customers(pool, customers, teams, tiers, company_id, user):
    """Insert the customers' parties with SQL: the columns the ORM fills
    (code_alnum, code_digit), the tier as an applied evaluation sets it
    (crm_tier, crm_tier_since and a tier history record) and the account
    team; the strategic ones also get the designated-strategic
    qualification. Return the party ids by code."""
    from trytond.transaction import Transaction

    from crm_module.visit import LEVEL_RESPONSIBLE

    Party = pool.get("party.party")
    party = Party.__table__()
    history = pool.get("crm.tier.history").__table__()
    cursor = Transaction().connection.cursor()
    now = dt.datetime.now()
    roles = list(LEVEL_RESPONSIBLE)
    columns = [
        party.name,
        party.code,
        party.code_alnum,
        party.code_digit,
        party.active,
        party.crm_industry_standing,
        party.crm_prospect,
        party.crm_high_standing,
        party.crm_tier,
        party.crm_tier_since,
        *(getattr(party, LEVEL_RESPONSIBLE[role]) for role in roles),
        party.create_uid,
        party.create_date,
    ]

    def member(customer, role):
        index = customer.team.get(role)
        return None if index is None else teams[role][index]

    for batch in chunks(customers, 500):
        cursor.execute(
            *party.insert(
                columns,
                [
                    [
                        f"Customer {c.code}",
                        c.code,
                        c.code,
                        int(c.code[1:]),
                        True,
                        "leading" if c.tier == "strategic" else "medium",
                        False,
                        False,
                        tiers[c.tier],
                        c.tier_since,
                        *(member(c, role) for role in roles),
                        user,
                        now,
                    ]
                    for c in batch
                ],
            )
        )
    codes = {c.code for c in customers}
    cursor.execute(*party.select(party.code, party.id))
    ids = {code: id_ for code, id_ in cursor if code in codes}
    for batch in chunks(customers, 500):
        cursor.execute(
            *history.insert(
                [
                    history.company,
                    history.party,
                    history.date,
                    history.to_tier,
                    history.user,
                    history.reason,
                    history.create_uid,
                    history.create_date,
                ],
                [
                    [
                        company_id,
                        ids[c.code],
                        c.tier_since,
                        tiers[c.tier],
                        user,
                        "Benchmark",
                        user,
                        now,
                    ]
                    for c in batch
                ],
            )
        )
    Qualification = pool.get("crm.qualification")
    given = pool.get("crm.party.qualification").__table__()
    (designated,) = Qualification.search([("code", "=", "designated_strategic")])
    rows = [
        [ids[c.code], designated.id, c.tier_since, "Long-term partner", user, now]
        for c in customers
        if c.tier == "strategic"
    ]
    for batch in chunks(rows, 500):
        cursor.execute(
            *given.insert(
                [
                    given.party,
                    given.qualification,
                    given.date,
                    given.reason,
                    given.create_uid,
                    given.create_date,
                ],
                batch,
            )
        )
    return ids


def insert_visits(pool, visits, parties, company_id, user):
    """Insert the visits with SQL, with the columns the ORM sets (company,
    create_uid, create_date: the evening of the visit), and as attendee of
    each on-site visit or video call the employee the customer names for
    its level (the account manager when nobody is named)"""
    from sql import Literal, Null
    from sql.conditionals import Case, Coalesce
    from trytond import backend
    from trytond.transaction import Transaction

    from crm_module.visit import LEVEL_RESPONSIBLE

    Visit = pool.get("crm.visit")
    Party = pool.get("party.party")
    visit = Visit.__table__()
    attendee = pool.get("crm.visit-company.employee").__table__()
    party = Party.__table__()
    cursor = Transaction().connection.cursor()
    columns = [
        visit.company,
        visit.party,
        visit.date,
        visit.level,
        visit.way,
        visit.subject,
        visit.create_uid,
        visit.create_date,
    ]
    evening = dt.time(18, 0)
    # 8 parameters a row: within SQLite's 32,766 and PostgreSQL's 65,535
    size = 500 if backend.name == "sqlite" else 5000
    for batch in chunks(visits, size):
        cursor.execute(
            *visit.insert(
                columns,
                [
                    [
                        company_id,
                        parties[customer.code],
                        day,
                        level,
                        way,
                        SUBJECTS[level] if way in COUNTING_WAYS else None,
                        user,
                        dt.datetime.combine(day, evening),
                    ]
                    for customer, day, level, way in batch
                ],
            )
        )
    person = Case(
        *(
            (visit.level == level, getattr(party, name))
            for level, name in LEVEL_RESPONSIBLE.items()
        )
    )
    employee = Coalesce(person, party.crm_account_manager)
    cursor.execute(
        *attendee.insert(
            [
                attendee.visit,
                attendee.employee,
                attendee.create_uid,
                attendee.create_date,
            ],
            visit.join(party, condition=visit.party == party.id).select(
                visit.id,
                employee,
                Literal(user),
                visit.create_date,
                where=visit.way.in_(list(COUNTING_WAYS)) & (employee != Null),
            ),
        )
    )


# --- the screens ---------------------------------------------------------------


def list_fields(Model, view_name):
    """Return the fields the client reads for a list view: those of the
    view, rec_name of its Many2One fields, and the access fields"""
    import xml.etree.ElementTree as ET

    import crm_module

    path = Path(crm_module.__file__).parent / "view" / f"{view_name}.xml"
    names = []
    for element in ET.parse(path).getroot().iter("field"):
        name = element.get("name")
        names.append(name)
        if Model._fields[name]._type == "many2one":
            names.append(f"{name}.rec_name")
    return [*names, "_timestamp", "_write", "_delete"]


class Spans:
    """Seconds spent in some methods of the module, measured by wrapping
    them at run time (nested spans overlap: no remainder is derived)"""

    def __init__(self):
        self.times = defaultdict(float)

    def wrap(self, Model, name, label):
        import inspect

        static = inspect.getattr_static(Model, name)
        assert isinstance(static, classmethod), (Model, name)
        function = static.__func__
        times = self.times

        # wraps: trytond reads the signature (a getter taking names)
        @functools.wraps(function)
        def wrapper(cls, *args, **kwargs):
            started = time.perf_counter()
            try:
                return function(cls, *args, **kwargs)
            finally:
                times[label] += time.perf_counter() - started

        setattr(Model, name, classmethod(wrapper))

    def take(self, runs=1):
        "Return the seconds per run since the last take"
        result = {k: round(v / runs, 4) for k, v in sorted(self.times.items())}
        self.times.clear()
        return result


def time_list(database, user, context, Model, domain, fields, count, runs, profile):
    # profile: a function of no argument returning the profiling context
    """Median seconds of runs of a list as the client shows it: search of
    the first CLIENT_LIMIT rows, read of fields, search_count when asked;
    each run a transaction of its own with the access checks of an RPC
    call, commit included. Return the figures and the last rows read."""
    steps = defaultdict(list)
    context = {**context, "_check_access": True}
    rows = total = None
    for _ in range(runs):
        started = time.perf_counter()
        with profile(), transaction(database, user, context):
            step = time.perf_counter()
            ids = Model.search(domain, offset=0, limit=CLIENT_LIMIT, order=None)
            ids = [r.id for r in ids]
            steps["search"].append(time.perf_counter() - step)
            step = time.perf_counter()
            rows = Model.read(ids, fields)
            steps["read"].append(time.perf_counter() - step)
            if count:
                step = time.perf_counter()
                total = Model.search_count(domain)
                steps["count"].append(time.perf_counter() - step)
        steps["total"].append(time.perf_counter() - started)
    figures = {k: round(statistics.median(v), 4) for k, v in steps.items()}
    figures["runs_s"] = [round(s, 4) for s in steps["total"]]
    return figures, rows, total


def last_half_year(today):
    "The last complete half-year before today, as YYYY-Hn, first and last day"
    if today.month <= 6:
        return (
            f"{today.year - 1}-H2",
            dt.date(today.year - 1, 7, 1),
            dt.date(today.year - 1, 12, 31),
        )
    return f"{today.year}-H1", dt.date(today.year, 1, 1), dt.date(today.year, 6, 30)


def parse_half_year(value):
    year, half = value.split("-H")
    year, half = int(year), int(half)
    if half == 1:
        return value, dt.date(year, 1, 1), dt.date(year, 6, 30)
    return value, dt.date(year, 7, 1), dt.date(year, 12, 31)


# --- benchmark ------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_visits", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per figure, median reported"
    )
    parser.add_argument(
        "--period",
        help="half-year of the manager screen and of the report, YYYY-H1 or "
        "YYYY-H2 (default: the last complete half-year)",
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--no-api",
        action="store_true",
        help="time the screens only, without trytond and the API",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the timed screens and the ERP route in-process with "
        "cProfile (their times then include the profiler's overhead)",
    )
    parser.add_argument("--profile-lines", type=int, default=25)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a target is missed",
    )
    args = parser.parse_args(argv)
    if args.customers < 1 or args.repeat < 1:
        parser.error("--customers and --repeat must be positive")
    if args.period:
        try:
            parse_half_year(args.period)
        except ValueError:
            parser.error("--period is YYYY-H1 or YYYY-H2")
    return args


def build(args, target, result):
    """Activate the module, create the company, the teams, the customers and
    their visits; return what the timed steps need"""
    database = args.database
    activate_s, user, context = activate_with_company(target, database)
    result["activate_s"] = round(activate_s, 1)

    from trytond.pool import Pool

    from crm_module.clock import today as crm_today

    pool = Pool(database)
    Company = pool.get("company.company")
    Tier = pool.get("crm.tier")
    Policy = pool.get("crm.visit.policy")
    with transaction(database, user, context):
        (company,) = Company.search([])
        company_id = company.id
        company_name = company.rec_name
        today = crm_today()
        tiers = {t.code: t.id for t in Tier.search([("company", "=", company_id)])}
        policy = {
            (p.tier.code, p.level): (p.interval, p.interval_unit, tuple(p.ways))
            for p in Policy.search([])
        }
    log(
        f"company {company_name}, today {today} in its time zone; policy: "
        + ", ".join(
            f"{tier}/{level} every {i} {u}"
            for (tier, level), (i, u, _) in sorted(policy.items())
            if i
        )
    )

    customers = make_customers(args.customers, today, args.seed)
    started = time.perf_counter()
    with transaction(database, user, context):
        teams = create_teams(pool, company_id, team_sizes(args.customers))
    log(
        f"{sum(map(len, teams.values()))} employees created in "
        f"{time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{role} {len(ids)}" for role, ids in teams.items())
    )
    started = time.perf_counter()
    with transaction(database, user, context):
        parties = insert_customers(pool, customers, teams, tiers, company_id, user)
    result["party_insert_s"] = round(time.perf_counter() - started, 2)
    visits = make_visits(customers, today, args.seed)
    started = time.perf_counter()
    with transaction(database, user, context):
        insert_visits(pool, visits, parties, company_id, user)
    result["visit_insert_s"] = round(time.perf_counter() - started, 2)
    if target.backend == "postgresql":
        with transaction(database, 0) as t:
            t.connection.cursor().execute("ANALYZE")
    ways = Counter(way for *_, way in visits)
    behaviours = Counter(c.behaviour for c in customers)
    result.update(
        today=today.isoformat(),
        visits=len(visits),
        visits_by_way=dict(sorted(ways.items())),
        customers_by_tier=dict(Counter(c.tier for c in customers)),
        customers_by_behaviour=dict(behaviours),
        employees=sum(map(len, teams.values())),
    )
    log(
        f"{len(parties):,} customers ({result['customers_by_tier']}) in "
        f"{result['party_insert_s']} s, {len(visits):,} visits "
        f"({', '.join(f'{w} {n:,}' for w, n in ways.most_common())}) in "
        f"{result['visit_insert_s']} s"
    )
    return pool, user, context, today, customers, visits, policy


def run(args, target, directory):
    import trytond

    result = {
        "benchmark": "visits",
        "backend": target.backend,
        "customers": args.customers,
        "seed": args.seed,
        "repeat": args.repeat,
        "profiled": args.profile,
        "python": platform.python_version(),
        "trytond": trytond.__version__,
        "cpus": os.cpu_count(),
    }
    loadavg_start = os.getloadavg()
    database = args.database
    pool, user, context, today, customers, visits, policy = build(args, target, result)
    period, from_date, to_date = (
        parse_half_year(args.period) if args.period else last_half_year(today)
    )
    result["period"] = [period, from_date.isoformat(), to_date.isoformat()]
    expected = expected_figures(customers, visits, policy, today, from_date, to_date)
    result["expected"] = expected

    Manager = pool.get("crm.visit.compliance.manager")
    Compliance = pool.get("crm.visit.compliance")
    LastContact = pool.get("crm.last_contact")
    Party = pool.get("party.party")
    spans = Spans()
    spans.wrap(Manager, "get_compliance", "manager.get_compliance")
    spans.wrap(Compliance, "period_figures", "compliance.period_figures")
    spans.wrap(Compliance, "_windows_done", "compliance._windows_done")
    spans.wrap(Compliance, "search_overdue", "compliance.search_overdue")
    spans.wrap(Compliance, "get_due", "compliance.get_due")
    profiler = Profiler(args.profile, args.profile_lines)
    runs = args.repeat

    # 1. the manager screen, in the context its context form gives
    period_context = {**context, "from_date": from_date, "to_date": to_date}
    fields = list_fields(Manager, "visit_compliance_manager_list")
    spans.take()
    figures, rows, _ = time_list(
        database,
        user,
        period_context,
        Manager,
        [],
        fields,
        False,
        runs,
        lambda: profiler("manager screen"),
    )
    figures["spans_s"] = spans.take(runs)
    result["manager_screen"] = figures
    result["manager_screen_s"] = figures["total"]
    result["manager_rows"] = len(rows)
    screen_required = sum(r["required"] for r in rows)
    screen_done = sum(r["done"] for r in rows)
    result["manager_required"], result["manager_done"] = screen_required, screen_done
    log(
        f"manager screen {period} ({len(rows)} rows, {screen_done:,} of "
        f"{screen_required:,} windows done): {figures['total']:.3f} s "
        f"(search {figures['search']:.3f}, read {figures['read']:.3f}); "
        f"{figures['spans_s']}"
    )

    # 2. the overdue list
    fields = list_fields(Compliance, "visit_compliance_list")
    figures, rows, total = time_list(
        database,
        user,
        context,
        Compliance,
        [("overdue", "=", True)],
        fields,
        True,
        runs,
        lambda: profiler("overdue list"),
    )
    figures["spans_s"] = spans.take(runs)
    result["overdue_list"] = figures
    result["overdue_list_s"] = figures["total"]
    result["overdue_rows"] = len(rows)
    result["overdue_count"] = total
    result["overdue_read_all_overdue"] = all(r["overdue"] for r in rows)
    log(
        f"overdue list ({len(rows):,} rows of {total:,}): {figures['total']:.3f} s "
        f"(search {figures['search']:.3f}, read {figures['read']:.3f}, count "
        f"{figures['count']:.3f}); {figures['spans_s']}"
    )
    with transaction(database, user, context, readonly=True):
        result["compliance_rows"] = Compliance.search_count([])

    # 3. the customers to re-contact, and the party search on crm_dormant
    fields = list_fields(LastContact, "last_contact_list")
    figures, rows, total = time_list(
        database,
        user,
        context,
        LastContact,
        [("dormant", "=", True)],
        fields,
        True,
        runs,
        lambda: profiler("dormant list"),
    )
    spans.take()
    result["dormant_list"] = figures
    result["dormant_list_s"] = figures["total"]
    result["dormant_count"] = total
    with transaction(database, user, context, readonly=True):
        cutoff = LastContact.dormant_cutoff()
    last = {}
    for customer, day, *_ in visits:
        last[customer.code] = max(day, last.get(customer.code, day))
    expected["dormant"] = sum(
        1 for c in customers if c.code not in last or last[c.code] <= cutoff
    )
    result["dormant_cutoff"] = cutoff.isoformat()
    figures_party, _, party_total = time_list(
        database,
        user,
        context,
        Party,
        [("crm_dormant", "=", True)],
        [
            "name",
            "code",
            "crm_tier",
            "crm_tier.rec_name",
            "crm_last_contact",
            "crm_dormant",
        ],
        True,
        runs,
        lambda: profiler("party dormant search"),
    )
    spans.take()
    result["party_dormant"] = figures_party
    result["party_dormant_s"] = figures_party["total"]
    result["party_dormant_count"] = party_total
    log(
        f"customers to re-contact ({total:,}): {figures['total']:.3f} s "
        f"(search {figures['search']:.3f}, read {figures['read']:.3f}, count "
        f"{figures['count']:.3f}); parties with crm_dormant ({party_total:,}): "
        f"{figures_party['total']:.3f} s"
    )

    # The ERP route's function in-process, for the profile
    if args.profile:
        from crm_module import visit_reporting

        with (
            profiler("report_compliance in-process"),
            transaction(database, user, {**context, "_check_access": True}),
        ):
            started = time.perf_counter()
            visit_reporting.report_compliance(from_date, to_date)
            result["report_in_process_s"] = round(time.perf_counter() - started, 3)
        result["report_in_process_spans_s"] = spans.take()
        log(f"report_compliance in-process: {result['report_in_process_s']:.3f} s")

    # 4. the API report over HTTP
    if not args.no_api:
        time_api(args, database, directory, period, result)

    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["loadavg_start"] = [round(x, 2) for x in loadavg_start]
    result["profiles"] = profiler.reports()
    return result


def time_api(args, database, directory, period, result):
    from trytond.pool import Pool

    from fixtures.load_demo import _create_reports_keys

    with transaction(database, 0):
        (erp_key,) = _create_reports_keys(Pool(database))
    erp, erp_url = start_erp(database, directory)
    api = None
    try:
        api, api_url, token, worker = start_api(erp_url, database, erp_key, directory)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        erp_session = requests.Session()
        erp_session.headers["Authorization"] = f"Bearer {erp_key}"
        params = {"period": period}
        seconds, _, size, response = measure(
            erp_session, f"{erp_url}/{database}/crm/reports/visits", params, args.repeat
        )
        document = response.json()
        result.update(
            erp_visits_json_s=seconds,
            report_customer_rows=len(document["customers"]),
            report_manager_rows=len(document["managers"]),
            report_totals=document["totals"],
            report_overdue=sum(
                1
                for c in document["customers"]
                if c["next_due"] is None or (c["overdue_days"] or 0) > 0
            ),
        )
        log(
            f"ERP route /visits?period={period} ({len(document['customers']):,} "
            f"customer rows, {size:,} bytes): {seconds:.3f} s"
        )
        for fmt in ("json", "csv"):
            seconds, peak, size, response = measure(
                session,
                f"{api_url}/api/v1/reports/visits",
                {**params, "format": fmt},
                args.repeat,
                worker,
            )
            result[f"api_visits_{fmt}_s"] = seconds
            result[f"api_visits_{fmt}_bytes"] = size
            result[f"api_visits_{fmt}_peak_rss_mb"] = peak
            log(
                f"API /reports/visits {fmt}: {seconds:.3f} s, {size:,} bytes, "
                f"worker peak {peak} MB"
            )
        # header + one line per customer and level
        result["api_visits_csv_rows"] = response.content.count(b"\r\n") - 1
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        erp.terminate()
        erp.wait(timeout=30)


def report(result):
    "Print the profiles, the table of figures and the RESULT line"
    for name, text in result.pop("profiles").items():
        print(f"\n== cProfile of {name}, sorted by cumulative time\n{text}")
    expected = result["expected"]
    api = "api_visits_json_s" in result
    checks = {
        "manager_screen_s": result["manager_screen_s"] < TARGET,
        "overdue_list_s": result["overdue_list_s"] < TARGET,
        "dormant_list_s": result["dormant_list_s"] < TARGET,
        "manager_figures_expected": (
            result["manager_required"] == expected["required"]
            and result["manager_done"] == expected["done"]
        ),
        "overdue_count_expected": result["overdue_count"] == expected["overdue"],
        "overdue_rows_overdue": result["overdue_read_all_overdue"],
        "party_dormant_count_equal": (
            result["party_dormant_count"] == result["dormant_count"]
        ),
    }
    checks["dormant_count_expected"] = result["dormant_count"] == expected["dormant"]
    targets = {
        "manager_screen_s": f"< {TARGET:g}",
        "overdue_list_s": f"< {TARGET:g}",
        "dormant_list_s": f"< {TARGET:g} (assumed)",
    }
    if api:
        checks.update(
            api_visits_json_s=result["api_visits_json_s"] < TARGET,
            api_visits_csv_s=result["api_visits_csv_s"] < TARGET,
            report_figures_equal_screens=(
                result["report_totals"]["required"] == result["manager_required"]
                and result["report_totals"]["done"] == result["manager_done"]
                and result["report_overdue"] == result["overdue_count"]
                and result["report_customer_rows"] == result["compliance_rows"]
                and result["api_visits_csv_rows"] == result["compliance_rows"]
            ),
        )
        targets.update(
            api_visits_json_s=f"< {TARGET:g}", api_visits_csv_s=f"< {TARGET:g}"
        )
    result["targets"] = targets
    result["ok"] = checks
    result["all_ok"] = all(checks.values())

    def verdict(name):
        return "ok" if checks[name] else "NOT OK"

    def parts(figures):
        return ", ".join(
            f"{k} {figures[k]:.3f}" for k in ("search", "read", "count") if k in figures
        )

    rows = [
        (
            f"manager screen ({result['manager_rows']} rows)",
            f"{result['manager_screen_s']:.3f} s",
            targets["manager_screen_s"] + " s",
            verdict("manager_screen_s"),
            parts(result["manager_screen"]),
        ),
        (
            f"overdue list ({result['overdue_rows']:,} of {result['overdue_count']:,})",
            f"{result['overdue_list_s']:.3f} s",
            targets["overdue_list_s"] + " s",
            verdict("overdue_list_s"),
            parts(result["overdue_list"]),
        ),
        (
            f"customers to re-contact ({result['dormant_count']:,})",
            f"{result['dormant_list_s']:.3f} s",
            f"< {TARGET:g} s (assumed)",
            verdict("dormant_list_s"),
            parts(result["dormant_list"]),
        ),
        (
            "parties, crm_dormant = True",
            f"{result['party_dormant_s']:.3f} s",
            "",
            "",
            parts(result["party_dormant"]),
        ),
    ]
    if api:
        for fmt in ("json", "csv"):
            key = f"api_visits_{fmt}_s"
            rows.append(
                (
                    f"API /reports/visits {fmt}",
                    f"{result[key]:.3f} s",
                    targets[key] + " s",
                    verdict(key),
                    f"{result[f'api_visits_{fmt}_bytes']:,} B, worker peak "
                    f"{result[f'api_visits_{fmt}_peak_rss_mb']} MB",
                )
            )
        rows.append(
            (
                "ERP route /visits alone",
                f"{result['erp_visits_json_s']:.3f} s",
                "",
                "",
                f"{result['report_customer_rows']:,} customer rows",
            )
        )
    rows += [
        (
            "screens' figures as expected",
            "yes"
            if checks["manager_figures_expected"] and checks["overdue_count_expected"]
            else "no",
            "yes",
            "ok"
            if checks["manager_figures_expected"] and checks["overdue_count_expected"]
            else "NOT OK",
            f"done {result['manager_done']:,} of {result['manager_required']:,} "
            f"(expected {expected['done']:,} of {expected['required']:,}), overdue "
            f"{result['overdue_count']:,} (expected {expected['overdue']:,})",
        ),
    ]
    if api:
        rows.append(
            (
                "report equals the screens",
                "yes" if checks["report_figures_equal_screens"] else "no",
                "yes",
                verdict("report_figures_equal_screens"),
                "",
            )
        )
    header = ("figure", "value", "target", "result", "detail")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    print(
        f"\nvisits, {result['backend']}: {result['customers']:,} customers, "
        f"{result['visits']:,} visits, {result['compliance_rows']:,} compliance "
        f"rows, period {result['period'][0]}, today {result['today']} (median of "
        f"{result['repeat']})"
        + (" (profiled: times include cProfile overhead)" if result["profiled"] else "")
    )
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(
                str(c).ljust(w) for c, w in zip(row, widths, strict=True)
            ).rstrip()
        )
    print(
        f"load average {result['loadavg_end'][0]} on {os.cpu_count()} CPUs; "
        f"peak memory {result['peak_rss_mb']:,.0f} MB"
    )
    print("RESULT " + json.dumps(result, sort_keys=True, default=str), flush=True)
    return result["all_ok"]


def main(argv=None):
    args = parse_args(argv)
    target = (SQLiteTarget if args.backend == "sqlite" else PostgreSQLTarget)(
        args.database
    )
    # The benchmark owns its database: no configuration file may point
    # trytond elsewhere, and trytond reads its environment when imported.
    os.environ.pop("TRYTOND_CONFIG", None)
    os.environ.pop("TRYTOND_DATABASE_URI", None)
    os.environ.update(target.environ())
    log(
        f"visits benchmark on {target.backend} ({target.describe()}), "
        f"{args.customers:,} customers, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="crm-bench-visits-") as directory:
        try:
            result = run(args, target, directory)
        finally:
            if args.keep:
                log(f"database kept: {target.describe()}")
            else:
                target.drop()
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    ok = report(result)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
