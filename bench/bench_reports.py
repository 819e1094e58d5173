"""Benchmark of the finance reports served by the API.

    .venv/bin/python -m bench.bench_reports [--backend sqlite|postgresql]
        [--customers 10000] [--status-customers 500] [--repeat 3]

Builds the ERP of bench_evaluation (same data builder: a throw-away
database, 10,000 customers, 24 months of summaries loaded with upsert),
sets the key tier's threshold so that about --status-customers customers
are strategic or key, computes, approves and applies the evaluation of
2025, then runs trytond and the API (gunicorn, one worker, its own SQLite
database) on loopback and times, through the API with a reports:read key:

1. the evaluation report (every line) as JSON and as XLSX;
2. the business status report of 2025-12 (the strategic and key customers)
   as JSON and as XLSX;

each the median of --repeat requests, with the peak resident memory of the
API's worker during the request (VmHWM, reset before each request through
/proc/<pid>/clear_refs). The ERP route alone is timed too, for comparison.
Targets of the issue: JSON < 1 s, XLSX < 5 s. It prints a table and one
line ``RESULT {json}`` (see bench/README.md); it asserts nothing.
"""

import argparse
import datetime as dt
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import requests

from bench.bench_evaluation import (
    END_MONTH,
    PostgreSQLTarget,
    SQLiteTarget,
    activate_with_company,
    chunks,
    insert_parties,
    log,
    make_customers,
    month_add,
    month_rows,
    transaction,
)
from bench.bench_sync import flask as run_flask
from bench.bench_sync import start_api as serve_api
from tests.erp_server import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DATABASE = "crm_bench_reports"
JSON_TARGET = 1.0
XLSX_TARGET = 5.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_reports", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--status-customers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--batch", type=int, default=5000, help="rows per upsert")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.months < 13 or args.customers < args.status_customers:
        parser.error("--months must be >= 13 and --customers >= --status-customers")
    return args


# --- the ERP ----------------------------------------------------------------


def build_erp(args, target):
    """Load the customers and their summaries, apply the evaluation of the
    last 12 months; return (evaluation id, status customers, crm_reports
    key, build figures)"""
    database = args.database
    _, user, context = activate_with_company(target, database)

    from sql.aggregate import Sum
    from trytond.pool import Pool

    from fixtures.load_demo import _create_reports_keys

    pool = Pool(database)
    Company = pool.get("company.company")
    Summary = pool.get("crm.sales.summary")
    Evaluation = pool.get("crm.evaluation")
    Tier = pool.get("crm.tier")
    Party = pool.get("party.party")
    with transaction(database, user):
        (company,) = Company.search([])
        company_id = company.id

    months = args.months
    customers = make_customers(args.customers, months, 12, args.seed)
    with transaction(database, user, context):
        insert_parties(pool, customers, user)
    started = time.perf_counter()
    rows = 0
    for index in range(months):
        for batch in chunks(
            month_rows(customers, months, 12, index, args.seed), args.batch
        ):
            with transaction(database, user, context):
                Summary.upsert(batch)
            rows += len(batch)
    load_s = time.perf_counter() - started
    log(f"{args.customers:,} customers, {rows:,} summaries loaded in {load_s:.1f} s")

    start = month_add(END_MONTH, -11)
    end = month_add(END_MONTH, 1) - dt.timedelta(days=1)
    # The key threshold: the amount of the largest customers but the
    # designated ones, so that about --status-customers are strategic or key.
    designated = sum(c.strategic for c in customers)
    summary = Summary.__table__()
    with transaction(database, user, context) as t:
        cursor = t.connection.cursor()
        cursor.execute(
            *summary.select(
                summary.customer_ref,
                Sum(summary.revenue),
                where=(summary.month >= start) & (summary.month <= end),
                group_by=[summary.customer_ref],
            )
        )
        strategic = {c.code for c in customers if c.strategic}
        cent = Decimal("0.01")
        amounts = sorted(
            (
                Decimal(str(a)).quantize(cent)
                for code, a in cursor
                if code not in strategic
            ),
            reverse=True,
        )
        wanted = max(args.status_customers - designated, 1)
        threshold = amounts[min(wanted, len(amounts)) - 1]
        tiers = {t.code: t for t in Tier.search([("company", "=", company_id)])}
        # revenue alone: the benchmark's customers have no industry standing
        for code, value in [("key", threshold), ("major", threshold / 2)]:
            Tier.write(
                [tiers[code]],
                {
                    "criteria": [
                        ("delete", [c.id for c in tiers[code].criteria]),
                        (
                            "create",
                            [
                                {
                                    "kind": "measure",
                                    "measure": "revenue",
                                    "operator": ">=",
                                    "value": value.quantize(cent),
                                }
                            ],
                        ),
                    ]
                },
            )
    log(f"key tier from {threshold:,} CNY a year of revenue alone")

    with transaction(database, user, context):
        (evaluation,) = Evaluation.create(
            [
                {
                    "company": company_id,
                    "name": "Benchmark 2025",
                    "period_type": "calendar",
                    "measure": "revenue",
                    "start_date": start,
                    "end_date": end,
                }
            ]
        )
        evaluation_id = evaluation.id
    started = time.perf_counter()
    with transaction(database, user, context):
        Evaluation.compute([Evaluation(evaluation_id)])
    compute_s = time.perf_counter() - started
    # Applied as on the last day: its tiers are in force in 2025-12.
    with transaction(database, user, {**context, "crm_today": end}):
        Evaluation.approve([Evaluation(evaluation_id)])
        Evaluation.apply([Evaluation(evaluation_id)])
    party = Party.__table__()
    with transaction(database, user, context) as t:
        cursor = t.connection.cursor()
        ids = [tiers["strategic"].id, tiers["key"].id]
        cursor.execute(*party.select(party.id, where=party.crm_tier.in_(ids)))
        status_customers = len(cursor.fetchall())
    log(
        f"evaluation {evaluation_id} computed in {compute_s:.2f} s and applied; "
        f"{status_customers} strategic or key customers"
    )
    with transaction(database, 0):
        (key,) = _create_reports_keys(pool)
    return (
        evaluation_id,
        status_customers,
        key,
        {
            "summary_rows": rows,
            "summary_load_s": round(load_s, 1),
            "compute_s": round(compute_s, 3),
            "key_threshold": str(threshold),
        },
    )


# --- the servers -------------------------------------------------------------


def start_erp(database, directory):
    port = free_port()
    environment = {**os.environ, "TRYTOND_WEB__LISTEN": f"127.0.0.1:{port}"}
    log_file = open(Path(directory, "trytond.log"), "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [str(BIN / "trytond"), "-d", database],
        cwd=ROOT,
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/")
    return process, url


def start_api(erp_url, database, erp_key, directory):
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("CRM_")
    }
    environment.update(
        CRM_API_DATABASE_URI=f"sqlite:///{directory}/sync_api.sqlite",
        CRM_ERP_URL=erp_url,
        CRM_ERP_DATABASE=database,
        CRM_ERP_REPORTS_KEY=erp_key,
    )

    def flask(*args):
        return run_flask(environment, *args)

    flask("db", "upgrade")
    token = flask("keys", "create", "--name", "bench", "--scope", "reports:read")
    process, url = serve_api(environment, 1, "--timeout", "300")
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    worker = int(children.read_text().split()[0])
    return process, url, token, worker


def reset_peak(pid):
    "Reset the peak resident memory (VmHWM) of pid; False where not allowed"
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def measure(session, url, params, repeat, worker=None):
    """Median seconds of repeat requests, peak worker memory, bytes, the
    last response"""
    times, peaks = [], []
    response = None
    for _ in range(repeat):
        if worker:
            reset_peak(worker)
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=600)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
        if worker:
            peaks.append(peak_mb(worker))
    return (
        round(statistics.median(times), 3),
        round(max(peaks), 1) if peaks else None,
        len(response.content),
        response,
    )


def run(args, target, directory):
    evaluation_id, status_customers, erp_key, figures = build_erp(args, target)
    erp, erp_url = start_erp(args.database, directory)
    api = None
    try:
        api, api_url, token, worker = start_api(
            erp_url, args.database, erp_key, directory
        )
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        erp_session = requests.Session()
        erp_session.headers["Authorization"] = f"Bearer {erp_key}"
        reports = f"{api_url}/api/v1/reports"
        clear_refs = reset_peak(worker)
        result = {
            "benchmark": "reports",
            "backend": target.backend,
            "customers": args.customers,
            "status_customers": status_customers,
            "repeat": args.repeat,
            **figures,
        }

        path = f"/evaluations/{evaluation_id}"
        every_line = {"limit": "10000"}
        seconds, _, size, response = measure(
            erp_session,
            f"{erp_url}/{args.database}/crm/reports{path}",
            every_line,
            args.repeat,
        )
        lines = len(response.json()["lines"])
        result.update(evaluation_lines=lines, erp_evaluation_json_s=seconds)
        log(f"ERP route, evaluation of {lines:,} lines: {seconds:.3f} s")
        result.update(render_seconds(response, evaluation_id, args.repeat))
        log(
            f"rendering alone, in this process: XLSX "
            f"{result['evaluation_xlsx_render_s']:.3f} s "
            f"({result['evaluation_xlsx_render_cpu_s']:.3f} s CPU), CSV "
            f"{result['evaluation_csv_render_s']:.3f} s"
        )
        for fmt, params in [("json", every_line), ("xlsx", {"format": "xlsx"})]:
            seconds, peak, size, response = measure(
                session, reports + path, params, args.repeat, worker
            )
            result[f"evaluation_{fmt}_s"] = seconds
            result[f"evaluation_{fmt}_peak_rss_mb"] = peak
            result[f"evaluation_{fmt}_bytes"] = size
            log(
                f"API evaluation {fmt}: {seconds:.3f} s, {size:,} bytes, "
                f"worker peak {peak} MB"
            )
        rows = xlsx_rows(response.content)
        result["evaluation_xlsx_rows"] = rows

        month = {"month": END_MONTH.strftime("%Y-%m")}
        seconds, _, size, response = measure(
            erp_session,
            f"{erp_url}/{args.database}/crm/reports/business-status",
            month,
            args.repeat,
        )
        result["erp_business_status_json_s"] = seconds
        result["business_status_rows"] = len(response.json()["customers"])
        for fmt in ("json", "xlsx"):
            seconds, peak, size, response = measure(
                session,
                reports + "/business-status",
                {**month, "format": fmt},
                args.repeat,
                worker,
            )
            result[f"business_status_{fmt}_s"] = seconds
            result[f"business_status_{fmt}_peak_rss_mb"] = peak
            result[f"business_status_{fmt}_bytes"] = size
            log(
                f"API business status {fmt} ({result['business_status_rows']} "
                f"customers): {seconds:.3f} s, {size:,} bytes, worker peak {peak} MB"
            )
        result["peak_rss_per_request"] = clear_refs
        return result
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        erp.terminate()
        erp.wait(timeout=30)


def render_seconds(response, evaluation_id, repeat):
    """Median wall and CPU seconds of rendering the ERP's evaluation as XLSX
    and CSV, without HTTP: the API's own share of a file's time"""
    from sync_api.erp import ErpDocument
    from sync_api.services.reports import (
        REPORTS,
        FetchedReport,
        parse_query,
        render,
    )

    document = ErpDocument(response.content, response.json())
    fetched = FetchedReport([document], document.data)
    query = parse_query(REPORTS["evaluation"], {}, {"evaluation_id": evaluation_id})
    figures = {}
    for fmt in ("xlsx", "csv"):
        walls, cpus = [], []
        for _ in range(repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            render(fetched, query, fmt)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        figures[f"evaluation_{fmt}_render_s"] = round(statistics.median(walls), 3)
        figures[f"evaluation_{fmt}_render_cpu_s"] = round(statistics.median(cpus), 3)
    return figures


def xlsx_rows(content):
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return workbook.worksheets[0].max_row


def report(result):
    checks = {
        "evaluation_json_s": result["evaluation_json_s"] < JSON_TARGET,
        "evaluation_xlsx_s": result["evaluation_xlsx_s"] < XLSX_TARGET,
        "business_status_json_s": result["business_status_json_s"] < JSON_TARGET,
        "business_status_xlsx_s": result["business_status_xlsx_s"] < XLSX_TARGET,
        # header + every line + totals
        "xlsx_has_every_line": result["evaluation_xlsx_rows"]
        == result["evaluation_lines"] + 2,
    }
    result["targets"] = {
        "evaluation_json_s": f"< {JSON_TARGET:g}",
        "evaluation_xlsx_s": f"< {XLSX_TARGET:g}",
        "business_status_json_s": f"< {JSON_TARGET:g}",
        "business_status_xlsx_s": f"< {XLSX_TARGET:g}",
    }
    result["ok"] = checks
    result["all_ok"] = all(checks.values())
    rows = []
    for name in ("evaluation", "business_status"):
        for fmt in ("json", "xlsx"):
            key = f"{name}_{fmt}_s"
            rows.append(
                (
                    f"{name.replace('_', ' ')} {fmt}",
                    f"{result[key]:.3f} s",
                    result["targets"][key] + " s",
                    "ok" if checks[key] else "NOT OK",
                    f"{result[f'{name}_{fmt}_peak_rss_mb']} MB",
                    f"{result[f'{name}_{fmt}_bytes']:,} B",
                )
            )
    print(
        f"\nreports, {result['backend']}: {result['evaluation_lines']:,} evaluation "
        f"lines, {result['business_status_rows']} status customers "
        f"(median of {result['repeat']})"
    )
    header = ("report", "time", "target", "result", "API peak RSS", "size")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(6)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"ERP route alone: evaluation {result['erp_evaluation_json_s']:.3f} s, "
        f"business status {result['erp_business_status_json_s']:.3f} s; "
        f"evaluation XLSX rendering alone {result['evaluation_xlsx_render_s']:.3f} s "
        f"({result['evaluation_xlsx_render_cpu_s']:.3f} s CPU); load average "
        f"{result['loadavg_end'][0]} on {os.cpu_count()} CPUs"
    )
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)


def main(argv=None):
    args = parse_args(argv)
    target = (SQLiteTarget if args.backend == "sqlite" else PostgreSQLTarget)(
        args.database
    )
    os.environ.pop("TRYTOND_CONFIG", None)
    os.environ.update(target.environ())
    log(
        f"reports benchmark on {target.backend} ({target.describe()}), "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
    )
    loadavg_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="crm-bench-reports-") as directory:
        try:
            result = run(args, target, directory)
        finally:
            if args.keep:
                log(f"database kept: {target.describe()}")
            else:
                target.drop()
    result["loadavg_start"] = [round(x, 2) for x in loadavg_start]
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
