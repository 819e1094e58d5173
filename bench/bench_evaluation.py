"""Benchmark of the customer evaluation on a realistic volume of sales.

    .venv/bin/python -m bench.bench_evaluation [--backend sqlite|postgresql]
        [--customers 10000] [--months 24] [--profile] [--check]

Builds a throw-away database (SQLite in a temporary folder, or a database
named crm_bench on the PostgreSQL of CRM_BENCH_POSTGRESQL_URI or of
``.ci/postgres.sh url``), activates crm_module with trytond-admin, creates a
company in CNY, the customers and their monthly sales summaries (loaded with
``crm.sales.summary.upsert``), then times in the same run:

1. the bare SQL aggregate of revenue and cost per party over the 12 months
   of the evaluation;
2. ``crm.evaluation.compute`` of a new evaluation of those 12 months;
3. ``crm.evaluation.approve`` and ``crm.evaluation.apply`` of it;
4. on PostgreSQL, writing the evaluation's lines again (rolled back) with
   and without their foreign keys (see bench/README.md).

It prints a table of the figures against their targets and the same figures
as one JSON line starting with ``RESULT `` (see bench/README.md).
"""

import argparse
import contextlib
import cProfile
import datetime as dt
import inspect
import io
import json
import math
import os
import platform
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "crm_bench"
ADMIN_EMAIL = "admin@example.com"
# The last month with sales; fixed so that a seed always gives the same data.
END_MONTH = dt.date(2025, 12, 1)
SOURCE = "erp"
TIER_CODES = ["strategic", "key", "major", "general", "potential"]

# Targets of the issue; the apply target is not in the issue (see README).
RATIO_TARGET = 3.0
COMPUTE_TARGET = 5.0
APPLY_TARGET = 5.0
UPSERT_TARGET = 5000.0

# Monthly weight of the sales (busy year end, quiet Spring Festival).
SEASON = [0.75, 0.7, 1.0, 1.0, 1.0, 1.0, 0.95, 0.95, 1.05, 1.1, 1.2, 1.3]

_started = time.perf_counter()


def log(message):
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", flush=True)


def month_add(date, months):
    index = date.year * 12 + date.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        rss /= 1024
    return rss / 1024


# --- data ----------------------------------------------------------------


@dataclass
class Customer:
    code: str
    kind: str  # regular, new, churned, returns or none
    annual: float  # yearly revenue of the evaluated period, in CNY
    growth: float  # evaluated period against the previous one
    margin: float
    line_size: float  # average amount of a sales line
    first: int  # index of the first month with sales
    strategic: bool = False
    high_standing: bool = False
    standing: str = "other"


def make_customers(count, months, period_months, seed):
    """Return the customers: a Pareto spread of sizes (a few very large
    customers, a long tail of small ones), some new, some lost, some with
    only returns in the period and a few without any sales"""
    rng = random.Random(f"{seed}-customers")
    period_start = months - period_months
    customers = []
    for i in range(1, count + 1):
        draw = rng.random()
        if draw < 0.015:
            kind = "none"
        elif draw < 0.045 and period_start > 0:
            kind = "churned"
        elif draw < 0.095 and period_months > 1:
            kind = "new"
        elif draw < 0.098 and period_start > 0:
            kind = "returns"
        else:
            kind = "regular"
        first = rng.randint(period_start + 1, months - 1) if kind == "new" else 0
        customers.append(
            Customer(
                code=f"C{i:05d}",
                kind=kind,
                annual=60_000 * rng.paretovariate(1.2),
                growth=rng.lognormvariate(0.05, 0.25),
                margin=rng.uniform(0.08, 0.35),
                line_size=rng.lognormvariate(math.log(3000), 0.6),
                first=first,
            )
        )
    # Management designates a few strategic partners: the largest three,
    # one of the middle and one that no longer buys; a few others have a
    # high industry standing.
    by_size = sorted(
        (c for c in customers if c.kind == "regular"), key=lambda c: -c.annual
    )
    designated = by_size[:3] + by_size[len(by_size) // 2 : len(by_size) // 2 + 1]
    designated += [c for c in customers if c.kind in {"none", "churned"}][:1]
    for customer in designated:
        customer.strategic = True
    for customer in rng.sample(customers, min(5, len(customers))):
        customer.high_standing = True
    # The elevator-parts tiers ask an industry standing: most of the large
    # customers lead their industry, the next ones are of medium level.
    for rank, customer in enumerate(by_size):
        if rank < len(by_size) // 100:
            customer.standing = "leading" if rank % 4 else "medium"
        elif rank < len(by_size) // 10:
            customer.standing = "medium" if rank % 3 else "other"
    return customers


def month_rows(customers, months, period_months, index, seed):
    "Return the summary rows of the month index as a sender sends them"
    from crm_module.tests.tools import summary

    rng = random.Random(f"{seed}-month-{index}")
    month = month_add(END_MONTH, index - months + 1)
    in_period = index >= months - period_months
    rows = []
    for customer in customers:
        if customer.kind == "none" or index < customer.first:
            continue
        if customer.kind == "churned" and in_period:
            continue
        base = customer.annual / 12 * SEASON[month.month - 1]
        if not in_period:
            base /= customer.growth
        if customer.kind == "returns" and in_period:
            if rng.random() > 0.25:
                continue
            revenue = -base * rng.uniform(0.01, 0.1)
        else:
            revenue = base * rng.lognormvariate(-0.06, 0.35)
        revenue = round(revenue, 2)
        cost = round(revenue * (1 - customer.margin * rng.uniform(0.8, 1.2)), 2)
        line_count = max(1, round(abs(revenue) / customer.line_size))
        day = rng.randint(1, 28)
        rows.append(
            summary(
                customer.code,
                month.strftime("%Y-%m"),
                f"{revenue:.2f}",
                f"{cost:.2f}",
                source=SOURCE,
                quantity=f"{line_count * rng.uniform(1, 20):.2f}",
                line_count=line_count,
                last_sale_date=month.replace(day=day).isoformat(),
            )
        )
    return rows


# --- databases ------------------------------------------------------------


class SQLiteTarget:
    backend = "sqlite"

    def __init__(self, database):
        self.database = database
        self.directory = tempfile.mkdtemp(prefix="crm-bench-")

    def environ(self):
        return {
            "TRYTOND_DATABASE__URI": "sqlite://",
            "TRYTOND_DATABASE__PATH": self.directory,
        }

    def describe(self):
        return str(Path(self.directory, f"{self.database}.sqlite"))

    def create(self):
        Path(self.directory, f"{self.database}.sqlite").touch()

    def drop(self):
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgreSQLTarget:
    backend = "postgresql"

    def __init__(self, database):
        self.database = database
        self.uri = os.environ.get("CRM_BENCH_POSTGRESQL_URI") or self._ci_uri()
        self.created = False

    @staticmethod
    def _ci_uri():
        result = subprocess.run(
            [str(ROOT / ".ci" / "postgres.sh"), "url"],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def environ(self):
        return {"TRYTOND_DATABASE__URI": self.uri}

    def describe(self):
        url = urllib.parse.urlsplit(self.uri)
        return f"{url.hostname}:{url.port or 5432}/{self.database}"

    def _admin_connection(self):
        import psycopg

        url = urllib.parse.urlsplit(self.uri)
        conninfo = urllib.parse.urlunsplit(url._replace(path="/postgres"))
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)

    def _drop_sql(self):
        from psycopg import sql

        return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(self.database)
        )

    def create(self):
        import psycopg
        from psycopg import sql

        try:
            connection = self._admin_connection()
        except psycopg.OperationalError as exception:
            sys.exit(
                f"cannot connect to PostgreSQL at {self.describe()}: "
                f"{exception}\nstart it with .ci/postgres.sh start or set "
                "CRM_BENCH_POSTGRESQL_URI"
            )
        with connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists:
                log(f"dropping database {self.database} left by an earlier run")
                connection.execute(self._drop_sql())
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                    sql.Identifier(self.database)
                )
            )
        self.created = True

    def drop(self):
        if not self.created:
            return
        with contextlib.suppress(Exception):
            from trytond import backend

            backend.Database(self.database).close()
        try:
            with self._admin_connection() as connection:
                connection.execute(self._drop_sql())
        except Exception as exception:  # keep the benchmark's own error
            log(f"could not drop database {self.database}: {exception}")


# --- helpers around trytond ----------------------------------------------


class Phases:
    """Time spent in some methods of the module during a step, measured by
    wrapping them at run time (the module itself is not changed)"""

    def __init__(self):
        self.times = defaultdict(float)
        self.calls = Counter()

    def wrap(self, Model, name, label):
        static = inspect.getattr_static(Model, name)
        times, calls = self.times, self.calls
        if isinstance(static, classmethod):
            function = static.__func__

            def wrapper(cls, *args, **kwargs):
                start = time.perf_counter()
                try:
                    return function(cls, *args, **kwargs)
                finally:
                    times[label] += time.perf_counter() - start
                    calls[label] += 1

            setattr(Model, name, classmethod(wrapper))
        else:
            function = static

            def wrapper(self, *args, **kwargs):
                start = time.perf_counter()
                try:
                    return function(self, *args, **kwargs)
                finally:
                    times[label] += time.perf_counter() - start
                    calls[label] += 1

            setattr(Model, name, wrapper)

    def take(self, total):
        "Return the phase times since the last take with the rest of total"
        result = {label: round(value, 4) for label, value in self.times.items()}
        result["other"] = round(total - sum(self.times.values()), 4)
        self.times.clear()
        self.calls.clear()
        return result


class Profiler:
    "cProfile of named steps; a step profiled several times accumulates"

    def __init__(self, enabled, lines):
        self.enabled = enabled
        self.lines = lines
        self.profiles = {}

    @contextlib.contextmanager
    def __call__(self, name):
        if not self.enabled or name is None:
            yield
            return
        profile = self.profiles.setdefault(name, cProfile.Profile())
        profile.enable()
        try:
            yield
        finally:
            profile.disable()

    def reports(self):
        reports = {}
        for name, profile in self.profiles.items():
            output = io.StringIO()
            stats = pstats.Stats(profile, stream=output)
            stats.sort_stats("cumulative").print_stats(self.lines)
            reports[name] = output.getvalue()
        return reports


def activate(target, database):
    "Initialise the database and activate crm_module with trytond-admin"
    admin = Path(sys.executable).with_name("trytond-admin")
    if not admin.exists():
        admin = shutil.which("trytond-admin")
    with tempfile.NamedTemporaryFile("w", suffix=".pass") as passfile:
        passfile.write("admin-bench-password\n")
        passfile.flush()
        env = {**os.environ, "TRYTONPASSFILE": passfile.name}
        command = [
            str(admin),
            "-d",
            database,
            "-u",
            "crm_module",
            "--activate-dependencies",
            "--email",
            ADMIN_EMAIL,
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        sys.exit(f"trytond-admin failed with status {result.returncode}")


def activate_with_company(target, database):
    """Create the database, activate crm_module and create the company in
    CNY as the scenarios do; return (activation seconds, the admin user id,
    the admin's context)"""
    target.create()
    started = time.perf_counter()
    activate(target, database)
    activate_s = time.perf_counter() - started
    log(f"crm_module activated with trytond-admin in {activate_s:.1f} s")

    from proteus import config as proteus_config
    from trytond.pool import Pool

    from crm_module.tests.tools import create_cny_company

    config = proteus_config.set_trytond(database=database)
    create_cny_company(config=config)
    user = config.user
    User = Pool(database).get("res.user")
    with transaction(database, user):
        context = User.get_preferences(context_only=True)
    return activate_s, user, context


def insert_parties(pool, customers, user):
    """Insert the customers' parties with SQL, filling the columns the ORM
    would (code_alnum and code_digit), and return their ids by code"""
    from trytond.transaction import Transaction

    Party = pool.get("party.party")
    party = Party.__table__()
    cursor = Transaction().connection.cursor()
    now = dt.datetime.now()
    columns = [
        party.name,
        party.code,
        party.code_alnum,
        party.code_digit,
        party.active,
        party.crm_industry_standing,
        party.crm_prospect,
        party.crm_high_standing,
        party.crm_high_standing_reason,
        party.create_uid,
        party.create_date,
    ]
    for batch in chunks(customers, 500):
        values = [
            [
                f"Customer {c.code}",
                c.code,
                c.code,
                int(c.code[1:]),
                True,
                c.standing,
                # the parties that never bought are prospects
                c.kind == "none",
                c.high_standing,
                "Industry leader" if c.high_standing else None,
                user,
                now,
            ]
            for c in batch
        ]
        cursor.execute(*party.insert(columns, values))
    codes = {c.code for c in customers}
    cursor.execute(*party.select(party.code, party.id))
    ids = {code: id_ for code, id_ in cursor if code in codes}
    # the designated strategic partners, as Change Classification gives it
    Qualification = pool.get("crm.qualification")
    given = pool.get("crm.party.qualification").__table__()
    (designated,) = Qualification.search([("code", "=", "designated_strategic")])
    rows = [
        [ids[c.code], designated.id, END_MONTH, "Long-term partner", user, now]
        for c in customers
        if c.strategic
    ]
    if rows:
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
                rows,
            )
        )
    return ids


def transaction(database, user, context=None, readonly=False):
    "A transaction that commits when its block ends without an exception"
    from trytond.transaction import Transaction

    return Transaction().start(database, user, context=context, readonly=readonly)


# --- benchmark ------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_evaluation",
        description="Time crm.evaluation compute and apply against the bare "
        "SQL aggregate of the same sales.",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument(
        "--batch", type=int, default=1000, help="rows per upsert call (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="compute this many evaluations of the period and report the "
        "median, as a running server does after its first call (default 3)",
    )
    parser.add_argument(
        "--aggregate-runs",
        type=int,
        default=5,
        help="runs of the bare aggregate, the median is reported (default 5)",
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument(
        "--keep", action="store_true", help="keep the database at the end"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the timed steps with cProfile (their times then include "
        "the profiler's overhead)",
    )
    parser.add_argument("--profile-lines", type=int, default=25)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a target is missed",
    )
    args = parser.parse_args(argv)
    if args.customers < 1 or not 1 <= args.months <= 120:
        parser.error("--customers must be positive and --months within 1-120")
    if min(args.batch, args.repeat, args.aggregate_runs) < 1:
        parser.error("--batch, --repeat and --aggregate-runs must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.backend == "sqlite":
        target = SQLiteTarget(args.database)
    else:
        target = PostgreSQLTarget(args.database)
    # The benchmark owns its database: no configuration file may point
    # trytond elsewhere, and trytond reads its environment when imported.
    os.environ.pop("TRYTOND_CONFIG", None)
    os.environ.pop("TRYTOND_DATABASE_URI", None)
    os.environ.update(target.environ())
    try:
        result = run(args, target)
    finally:
        if args.keep:
            log(f"database kept: {target.describe()}")
        else:
            target.drop()
    ok = report(result)
    return 0 if ok or not args.check else 1


def time_line_write(database, user, context, evaluation_id, runs=5):
    """Time on PostgreSQL writing the evaluation's lines again, each run
    rolled back, into crm_evaluation_line and into a copy of it with the same
    columns and indexes but without the foreign keys Tryton gives its
    Many2One fields: what any compute that stores its lines must spend."""
    with transaction(database, user, context) as t:
        cursor = t.connection.cursor()
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'crm_evaluation_line' AND column_name <> 'id' "
            "ORDER BY ordinal_position"
        )
        columns = ", ".join(f'"{name}"' for (name,) in cursor.fetchall())
        cursor.execute(
            f"CREATE TEMP TABLE bench_lines AS SELECT {columns} "
            "FROM crm_evaluation_line WHERE evaluation = %s",
            (evaluation_id,),
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_line_copy (LIKE crm_evaluation_line INCLUDING ALL)"
        )
        result = {}
        for name, table in [
            ("foreign_keys_s", "crm_evaluation_line"),
            ("no_foreign_keys_s", "bench_line_copy"),
        ]:
            times = []
            for _ in range(runs):
                cursor.execute("SAVEPOINT line_write")
                started = time.perf_counter()
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT {columns} FROM bench_lines"
                )
                times.append(time.perf_counter() - started)
                cursor.execute("ROLLBACK TO SAVEPOINT line_write")
            result[name] = round(statistics.median(times), 4)
        t.rollback()
    return result


def run(args, target):
    database = args.database
    months = args.months
    period_months = min(12, months)
    end = month_add(END_MONTH, 1) - dt.timedelta(days=1)
    start = month_add(END_MONTH, 1 - period_months)
    both_start = month_add(END_MONTH, 1 - 2 * period_months)
    import trytond

    import crm_module

    module_path = str(Path(crm_module.__file__).parent)
    log(
        f"crm_module evaluation benchmark: {args.customers:,} customers x "
        f"{months} months on {target.backend} ({target.describe()}), "
        f"trytond {trytond.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, crm_module from {module_path}"
    )

    loadavg_start = os.getloadavg()
    activate_s, user, context = activate_with_company(target, database)

    from trytond.pool import Pool

    pool = Pool(database)
    Company = pool.get("company.company")
    Party = pool.get("party.party")
    Summary = pool.get("crm.sales.summary")
    Evaluation = pool.get("crm.evaluation")
    Line = pool.get("crm.evaluation.line")
    Tier = pool.get("crm.tier")
    History = pool.get("crm.tier.history")

    with transaction(database, user):
        (company,) = Company.search([])
        company_id = company.id
        currency = company.currency.code
        tiers = {t.id: t.code for t in Tier.search([])}
    log(f"company in {currency} with tiers {', '.join(tiers.values())}")

    # Parties
    customers = make_customers(args.customers, months, period_months, args.seed)
    kinds = Counter(c.kind for c in customers)
    started = time.perf_counter()
    with transaction(database, user, context):
        parties = insert_parties(pool, customers, user)
    party_s = time.perf_counter() - started
    log(
        f"{len(parties):,} parties inserted with SQL in {party_s:.1f} s; "
        + ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items()))
    )

    profiler = Profiler(args.profile, args.profile_lines)
    if args.profile:
        log(
            "profiling is on: the timed upsert, compute, approve and apply "
            "include cProfile's overhead"
        )

    # Sales summaries, month after month as a monthly sync sends them, all
    # through upsert: the load is the measure of the sync target.
    total_rows = 0
    upsert_s = 0.0
    last_upsert = None
    for index in range(months):
        rows = month_rows(customers, months, period_months, index, args.seed)
        month_upsert_s = 0.0
        for batch in chunks(rows, args.batch):
            started = time.perf_counter()
            with profiler("upsert"), transaction(database, user, context):
                outcome = Summary.upsert(batch)
            month_upsert_s += time.perf_counter() - started
            if outcome["inserted"] != len(batch) or outcome["unmatched"]:
                raise AssertionError(f"unexpected upsert outcome: {outcome}")
        total_rows += len(rows)
        upsert_s += month_upsert_s
        if rows:
            last_upsert = (
                rows[0]["month"],
                len(rows),
                month_upsert_s,
                total_rows - len(rows),
            )
            log(
                f"summaries {rows[0]['month']}: {len(rows):,} rows by upsert in "
                f"{month_upsert_s:.2f} s ({len(rows) / month_upsert_s:,.0f} rows/s); "
                f"{total_rows:,} rows in the table"
            )
    upsert_rows = total_rows
    upsert_rate = upsert_rows / upsert_s if upsert_s else None
    # The monthly sync case: the last month sent into the earlier ones
    last_month, last_rows, last_s, last_table_before = last_upsert
    log(
        f"{total_rows:,} summary rows by upsert at {upsert_rate or 0:,.0f} rows/s "
        f"({last_month} alone: {last_rows / last_s:,.0f} rows/s into "
        f"{last_table_before:,} rows)"
    )

    # The bare aggregate over the period, and over both periods
    summary = Summary.__table__()
    from sql.aggregate import Count, Sum

    def aggregate_query(from_date):
        return summary.select(
            summary.party,
            Sum(summary.revenue),
            Sum(summary.cost),
            where=(summary.month >= from_date) & (summary.month <= end),
            group_by=[summary.party],
        )

    def run_aggregate(from_date):
        started = time.perf_counter()
        with transaction(database, user, context, readonly=True) as t:
            cursor = t.connection.cursor()
            cursor.execute(*aggregate_query(from_date))
            rows = cursor.fetchall()
        return time.perf_counter() - started, rows

    query, params = tuple(aggregate_query(start))
    log(f"bare aggregate: {query} {params}")
    aggregate_times = []
    for _ in range(args.aggregate_runs):
        seconds, aggregate_rows = run_aggregate(start)
        aggregate_times.append(seconds)
    aggregate_s = statistics.median(aggregate_times)
    log(
        f"bare aggregate over {period_months} months: {len(aggregate_rows):,} "
        f"parties, median {aggregate_s:.3f} s of "
        + ", ".join(f"{s:.3f}" for s in aggregate_times)
    )
    both_times = [run_aggregate(both_start)[0] for _ in range(args.aggregate_runs)]
    aggregate_both_s = statistics.median(both_times)
    log(
        f"bare aggregate over {2 * period_months} months (the rows compute "
        f"reads with the previous period): median {aggregate_both_s:.3f} s"
    )

    # Compute, approve and apply
    phases = Phases()
    phases.wrap(Evaluation, "_get_foreign_totals", "_get_foreign_totals")
    phases.wrap(Evaluation, "_get_unmatched_revenue", "_get_unmatched_revenue")
    phases.wrap(Evaluation, "_ranked_figures", "_ranked_figures")
    phases.wrap(Line, "delete_raw", "line.delete_raw")
    phases.wrap(Line, "search", "line.search")
    phases.wrap(Line, "check_overrides", "line.check_overrides")
    phases.wrap(Evaluation, "_apply", "_apply")

    def timed(name, method):
        """Run Evaluation.<method> on the evaluation of evaluation_ids[-1] in
        its own transaction, commit included; return the seconds and phases"""
        phases.take(0)
        started = time.perf_counter()
        with profiler(name), transaction(database, user, context):
            getattr(Evaluation, method)([Evaluation(evaluation_ids[-1])])
        seconds = time.perf_counter() - started
        return seconds, phases.take(seconds)

    period_type = "calendar" if start.month == 1 and period_months == 12 else "rolling"
    compute_times, compute_phases, evaluation_ids = [], [], []
    for run_index in range(args.repeat):
        with transaction(database, user, context):
            (evaluation,) = Evaluation.create(
                [
                    {
                        "company": company_id,
                        "name": f"Benchmark {run_index + 1}",
                        "period_type": period_type,
                        "measure": "revenue",
                        "start_date": start,
                        "end_date": end,
                    }
                ]
            )
            evaluation_ids.append(evaluation.id)
        seconds, run_phases = timed("compute", "compute")
        compute_times.append(seconds)
        compute_phases.append(run_phases)
        log(
            f"compute {run_index + 1}/{args.repeat}: {seconds:.3f} s "
            f"({seconds / aggregate_s:.1f}x the bare aggregate); "
            + ", ".join(f"{k} {v:.3f}" for k, v in compute_phases[-1].items())
        )
    compute_s = statistics.median(compute_times)
    evaluation_id = evaluation_ids[-1]

    # Compute again, as a user does after a correction: back to draft, then
    # compute replaces the lines it wrote (each deleted line is looked up
    # among the parties that may point at it).
    with transaction(database, user, context):
        Evaluation.draft([Evaluation(evaluation_id)])
    recompute_s, recompute_phases = timed("recompute", "compute")
    log(
        f"recompute (draft, then compute over its own lines): {recompute_s:.3f} s; "
        + ", ".join(f"{k} {v:.3f}" for k, v in recompute_phases.items())
    )
    if len(evaluation_ids) > 1:
        with transaction(database, user, context):
            Evaluation.cancel(Evaluation.browse(evaluation_ids[:-1]))

    # Check the figures against the bare aggregate before applying them
    line = Line.__table__()
    with transaction(database, user, context, readonly=True) as t:
        cursor = t.connection.cursor()
        cursor.execute(
            *line.select(
                line.party,
                line.revenue,
                line.cost,
                line.proposed_tier,
                where=line.evaluation == evaluation_id,
            )
        )
        lines = {party: (revenue, cost, tier) for party, revenue, cost, tier in cursor}
    cent = Decimal("0.01")

    def money(value):
        return Decimal(str(value or 0)).quantize(cent)

    mismatches = [
        party
        for party, revenue, cost in aggregate_rows
        if party is not None
        and (
            party not in lines
            or money(lines[party][0]) != money(revenue)
            or money(lines[party][1]) != money(cost)
        )
    ]
    proposed = Counter(tiers[tier] for _, _, tier in lines.values())
    log(
        f"{len(lines):,} evaluation lines, proposed tiers: "
        + ", ".join(f"{code} {proposed[code]:,}" for code in TIER_CODES)
        + f"; {len(mismatches)} parties differ from the bare aggregate"
    )

    line_write = None
    if target.backend == "postgresql":
        line_write = time_line_write(database, user, context, evaluation_id)
        log(
            f"writing the {len(lines):,} lines again: "
            f"{line_write['foreign_keys_s']:.3f} s with their 5 foreign keys, "
            f"{line_write['no_foreign_keys_s']:.3f} s without"
        )

    approve_s, approve_phases = timed("approve", "approve")
    apply_s, apply_phases = timed("apply", "apply")
    log(
        f"approve {approve_s:.3f} s ("
        + ", ".join(f"{k} {v:.3f}" for k, v in approve_phases.items())
        + f"), apply {apply_s:.3f} s ("
        + ", ".join(f"{k} {v:.3f}" for k, v in apply_phases.items())
        + ")"
    )

    party = Party.__table__()
    history = History.__table__()
    with transaction(database, user, context, readonly=True) as t:
        cursor = t.connection.cursor()
        cursor.execute(
            *party.select(
                party.crm_tier,
                Count(party.id),
                where=party.crm_tier != None,  # noqa: E711
                group_by=[party.crm_tier],
            )
        )
        applied = {tiers[tier]: count for tier, count in cursor}
        cursor.execute(
            *history.select(
                Count(history.id), where=history.evaluation == evaluation_id
            )
        )
        (history_count,) = cursor.fetchone()
        state = Evaluation(evaluation_id).state
    log(
        f"evaluation {state}; parties per tier: "
        + ", ".join(f"{code} {applied.get(code, 0):,}" for code in TIER_CODES)
        + f"; {history_count or 0:,} tier history records"
    )

    return {
        "benchmark": "crm_evaluation",
        "backend": target.backend,
        "customers": args.customers,
        "months": months,
        "period": [start.isoformat(), end.isoformat()],
        "period_months": period_months,
        "seed": args.seed,
        "profiled": args.profile,
        "summary_rows": total_rows,
        "customer_kinds": dict(sorted(kinds.items())),
        "activate_s": round(activate_s, 2),
        "party_insert_s": round(party_s, 2),
        "upsert_batch": args.batch,
        "upsert_rows": upsert_rows,
        "upsert_s": round(upsert_s, 3),
        "upsert_rows_per_s": round(upsert_rate, 1) if upsert_rate else None,
        "upsert_last_month": last_month,
        "upsert_last_month_rows": last_rows,
        "upsert_last_month_table_rows_before": last_table_before,
        "upsert_last_month_rows_per_s": round(last_rows / last_s, 1),
        "aggregate_s": round(aggregate_s, 4),
        "aggregate_runs_s": [round(s, 4) for s in aggregate_times],
        "aggregate_both_periods_s": round(aggregate_both_s, 4),
        "compute_s": round(compute_s, 4),
        "compute_runs_s": [round(s, 4) for s in compute_times],
        "compute_phases_s": compute_phases[-1],
        "compute_aggregate_ratio": round(compute_s / aggregate_s, 2),
        "compute_aggregate_both_periods_ratio": round(compute_s / aggregate_both_s, 2),
        "recompute_s": round(recompute_s, 4),
        "recompute_phases_s": recompute_phases,
        "line_write_s": line_write,
        "approve_s": round(approve_s, 4),
        "approve_phases_s": approve_phases,
        "apply_s": round(apply_s, 4),
        "apply_phases_s": apply_phases,
        "approve_apply_s": round(approve_s + apply_s, 4),
        "evaluation_lines": len(lines),
        "aggregate_mismatches": len(mismatches),
        "proposed_tiers": {code: proposed[code] for code in TIER_CODES},
        "tiers_missing": [code for code in TIER_CODES if not proposed[code]],
        "applied_tiers": {code: applied.get(code, 0) for code in TIER_CODES},
        "history_records": history_count or 0,
        "evaluation_state": state,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        # Other work on the machine skews the figures: compare with cpus.
        "loadavg_start": [round(x, 2) for x in loadavg_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "trytond": trytond.__version__,
        "module_path": module_path,
        "cpus": os.cpu_count(),
        "profiles": profiler.reports(),
    }


def report(result):
    "Print the profiles, the table of figures and the RESULT line"
    for name, text in result.pop("profiles").items():
        print(f"\n== cProfile of {name}, sorted by cumulative time\n{text}")

    checks = {
        "compute_aggregate_ratio": result["compute_aggregate_ratio"] <= RATIO_TARGET,
        "compute_s": result["compute_s"] < COMPUTE_TARGET,
        "recompute_s": result["recompute_s"] < COMPUTE_TARGET,
        "approve_apply_s": result["approve_apply_s"] < APPLY_TARGET,
        "upsert_rows_per_s": (result["upsert_rows_per_s"] or 0) >= UPSERT_TARGET,
        "figures_match_aggregate": result["aggregate_mismatches"] == 0,
        "all_tiers_proposed": not result["tiers_missing"],
    }
    result["targets"] = {
        "compute_aggregate_ratio": f"<= {RATIO_TARGET:g}",
        "compute_s": f"< {COMPUTE_TARGET:g}",
        "recompute_s": f"< {COMPUTE_TARGET:g}",
        "approve_apply_s": f"< {APPLY_TARGET:g} (assumed)",
        "upsert_rows_per_s": f">= {UPSERT_TARGET:g}",
    }
    result["ok"] = checks
    result["all_ok"] = all(checks.values())

    def verdict(name):
        return "ok" if checks[name] else "NOT OK"

    rows = [
        (
            "compute / bare aggregate",
            f"{result['compute_aggregate_ratio']:.1f}x",
            f"<= {RATIO_TARGET:g}x",
            verdict("compute_aggregate_ratio"),
        ),
        (
            "compute / bare aggregate of both periods",
            f"{result['compute_aggregate_both_periods_ratio']:.1f}x",
            "",
            "",
        ),
        (
            "compute",
            f"{result['compute_s']:.2f} s",
            f"< {COMPUTE_TARGET:g} s",
            verdict("compute_s"),
        ),
        (
            "recompute (replaces its lines)",
            f"{result['recompute_s']:.2f} s",
            f"< {COMPUTE_TARGET:g} s",
            verdict("recompute_s"),
        ),
        (
            "approve + apply",
            f"{result['approve_apply_s']:.2f} s",
            f"< {APPLY_TARGET:g} s (assumed)",
            verdict("approve_apply_s"),
        ),
        (
            f"upsert ({result['upsert_rows']:,} rows)",
            f"{result['upsert_rows_per_s'] or 0:,.0f} rows/s",
            f">= {UPSERT_TARGET:,.0f} rows/s",
            verdict("upsert_rows_per_s"),
        ),
        (
            "lines equal to bare aggregate",
            f"{result['aggregate_mismatches']} differ",
            "0 differ",
            verdict("figures_match_aggregate"),
        ),
        (
            "tiers proposed",
            f"{5 - len(result['tiers_missing'])} of 5",
            "5 of 5",
            verdict("all_tiers_proposed"),
        ),
        (
            f"bare aggregate ({result['period_months']} months)",
            f"{result['aggregate_s']:.3f} s",
            "",
            "",
        ),
        (
            f"upsert, {result['upsert_last_month']} only",
            f"{result['upsert_last_month_rows_per_s']:,.0f} rows/s",
            "",
            "",
        ),
        ("approve", f"{result['approve_s']:.2f} s", "", ""),
        ("apply", f"{result['apply_s']:.2f} s", "", ""),
        ("summary rows", f"{result['summary_rows']:,}", "", ""),
        *(
            [
                (
                    "writing the lines, 5 foreign keys",
                    f"{write['foreign_keys_s']:.2f} s "
                    f"({write['foreign_keys_s'] / result['aggregate_s']:.1f}x)",
                    "",
                    "",
                ),
                (
                    "writing the lines, no foreign keys",
                    f"{write['no_foreign_keys_s']:.2f} s",
                    "",
                    "",
                ),
            ]
            if (write := result["line_write_s"])
            else []
        ),
        ("peak memory (maxrss)", f"{result['peak_rss_mb']:,.0f} MB", "", ""),
    ]
    title = (
        f"crm_module evaluation, {result['backend']}, {result['customers']:,} "
        f"customers x {result['months']} months"
        + (" (profiled: times include cProfile overhead)" if result["profiled"] else "")
    )
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    widths = [
        max(w, len(h))
        for w, h in zip(widths, ["figure", "value", "target", "result"], strict=True)
    ]
    print(f"\n{title}")
    header = ("figure", "value", "target", "result")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    return result["all_ok"]


if __name__ == "__main__":
    sys.exit(main())
