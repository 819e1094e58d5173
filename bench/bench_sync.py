"""Benchmark of the sync API: push throughput, sync throughput, sync lag.

    .venv/bin/python -m bench.bench_sync [--backend sqlite|postgresql]
        [--lines 200000] [--batch 1000] [--clients 2] [--workers 2]
        [--lag-seconds 30] [--lag-rate 1000] [--push-only] [--check]

Builds a throw-away ERP (trytond on SQLite with crm_module and the demo
company, as the tests do) on a free loopback port, and a throw-away API
database (SQLite in a temporary folder, or the database sync_api_bench on
the PostgreSQL of CRM_BENCH_POSTGRESQL_URI or of ``.ci/postgres.sh url``),
then measures, in one run:

1. push: ``--lines`` sales lines in batches of ``--batch`` to the API
   served by gunicorn with ``--workers`` workers, from ``--clients``
   concurrent clients (bodies encoded before the clock starts);
2. sync: the worker (``SyncWorker.run_once`` in this process) sending every
   pending (customer, month, source, currency) total of those lines into
   the ERP: summary rows per second;
3. lag: ``flask sync run`` running while a client pushes ``--lag-rate``
   lines per second for ``--lag-seconds``; the lag of a push is the time
   from its answer until no key marked before it is pending any more
   (sampled every 50 ms); the 95th percentile is reported.

``--push-only`` stops after the first step (for quick runs while tuning
the push). Prints a table of the figures against their targets and one
line ``RESULT {json}``.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync_api import create_app  # noqa: E402
from sync_api.erp import ErpClient  # noqa: E402
from sync_api.extensions import db  # noqa: E402
from sync_api.models import SyncPending  # noqa: E402
from sync_api.services.clock import utcnow  # noqa: E402
from sync_api.services.sync import SyncSettings, SyncWorker  # noqa: E402
from tests.erp_server import BIN, ErpServer, free_port, wait_for_http  # noqa: E402

PUSH_TARGET = 25_000.0
SYNC_TARGET = 5_000.0
LAG_TARGET = 5.0
POSTGRESQL_DATABASE = "sync_api_bench"
_started = time.perf_counter()


def log(message):
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", flush=True)


def make_lines(count, customers, prefix):
    """Lines spread over customers and 24 months: about one summary key per
    eight lines with the defaults."""
    lines = []
    for i in range(count):
        customer = i % customers
        month = (i // (customers * 8)) % 24
        lines.append(
            {
                "external_id": f"{prefix}-{i}",
                "customer": f"B{customer:05d}",
                "date": f"{2024 + month // 12}-{month % 12 + 1:02d}-{i % 28 + 1:02d}",
                "quantity": str(i % 40 + 1),
                "amount": f"{(i % 997) * 13 + 100}.{i % 100:02d}",
                "cost": f"{(i % 997) * 9 + 50}.00",
                "currency": "CNY",
                "product": f"P-{i % 300}",
                "category": "doors",
            }
        )
    return lines


def postgresql_uri(args):
    server = (
        os.environ.get("CRM_BENCH_POSTGRESQL_URI")
        or subprocess.run(
            [str(ROOT / ".ci" / "postgres.sh"), "url"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    server = server.replace("postgresql://", "postgresql+psycopg://", 1).rstrip("/")
    engine = create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {POSTGRESQL_DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {POSTGRESQL_DATABASE}"))
    engine.dispose()
    return f"{server}/{POSTGRESQL_DATABASE}"


def api_environment(erp, args, directory, poll_seconds):
    """Build and start the ERP, choose the API database of ``--backend``;
    return the environment of the API's processes."""
    log("building the ERP (trytond-admin, crm_module, demo company)")
    erp.build()
    erp.start()
    uri = (
        postgresql_uri(args)
        if args.backend == "postgresql"
        else f"sqlite:///{directory / 'sync_api.sqlite'}"
    )
    return dict(
        os.environ,
        CRM_API_DATABASE_URI=uri,
        CRM_ERP_URL=erp.url,
        CRM_ERP_DATABASE=erp.database,
        CRM_ERP_KEY=erp.key,
        CRM_ERP_REPORTS_KEY=erp.reports_key,
        CRM_SYNC_POLL_SECONDS=str(poll_seconds),
        PYTHONPATH=str(ROOT),
    )


def start_api(environment, workers, *options):
    """Serve the API with gunicorn (more gunicorn options in options) on a
    free port; return the process and the URL"""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gunicorn = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--config",
            "python:sync_api.gunicorn_conf",
            "--workers",
            str(workers),
            *options,
            "--bind",
            f"127.0.0.1:{port}",
            "sync_api:create_app()",
        ],
        env=environment,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(url + "/health")
    except Exception:
        gunicorn.kill()
        raise
    return gunicorn, url


def flask(environment, *args):
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "sync_api", *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def measure_push(url, key, lines, batch, clients):
    bodies = [
        json.dumps({"source": "bench", "lines": lines[i : i + batch]}).encode()
        for i in range(0, len(lines), batch)
    ]
    local = threading.local()

    def send(body):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers.update(
                {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            )
        response = session.post(url + "/api/v1/sales", data=body, timeout=120)
        response.raise_for_status()
        return response.json()["inserted"]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        inserted = sum(pool.map(send, bodies))
    elapsed = time.perf_counter() - start
    return inserted, elapsed


def measure_lag(url, key, engine, environment, rate, seconds):
    worker = subprocess.Popen(
        [str(BIN / "flask"), "--app", "sync_api", "sync", "run"],
        env=environment,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    samples = []  # (sampled at, oldest pending first_marked_at or None)
    stop = threading.Event()

    def sample():
        with engine.connect() as connection:
            while not stop.is_set():
                oldest = connection.execute(
                    select(func.min(SyncPending.first_marked_at))
                ).scalar()
                connection.rollback()
                samples.append((utcnow(), oldest))
                time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    pushed = []  # answer time of each push
    per_push = max(rate // 10, 1)  # ten pushes a second
    lines = make_lines(rate * seconds, 997, "lag")
    start = time.perf_counter()
    try:
        for n in range(0, len(lines), per_push):
            due = start + n / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            response = session.post(
                url + "/api/v1/sales",
                json={"source": "lag", "lines": lines[n : n + per_push]},
                timeout=60,
            )
            response.raise_for_status()
            pushed.append(utcnow())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not samples or samples[-1][1]):
            time.sleep(0.1)
    finally:
        stop.set()
        sampler.join()
        worker.terminate()
        worker.wait(timeout=30)
    lags = []
    for answered in pushed:
        for sampled_at, oldest in samples:
            if sampled_at >= answered and (oldest is None or oldest > answered):
                lags.append((sampled_at - answered).total_seconds())
                break
    return lags, len(pushed)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--lag-seconds", type=int, default=30)
    parser.add_argument("--lag-rate", type=int, default=1000)
    parser.add_argument("--push-only", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="bench_sync_"))
    erp = ErpServer(directory / "erp")
    erp.directory.mkdir()
    gunicorn = None
    try:
        environment = api_environment(erp, args, directory, 0.1)
        uri = environment["CRM_API_DATABASE_URI"]
        flask(environment, "db", "upgrade")
        key = flask(
            environment, "keys", "create", "--name", "bench", "--scope", "admin"
        )
        gunicorn, url = start_api(environment, args.workers)

        lines = make_lines(args.lines, args.customers, "push")
        log(f"pushing {len(lines)} lines in batches of {args.batch}")
        inserted, push_s = measure_push(url, key, lines, args.batch, args.clients)
        push_rate = inserted / push_s
        log(f"push: {push_rate:,.0f} lines/s")
        if args.push_only:
            print(
                "RESULT "
                + json.dumps(
                    {
                        "backend": args.backend,
                        "push_lines": inserted,
                        "push_s": round(push_s, 2),
                        "push_lines_per_s": round(push_rate),
                        "gunicorn_workers": args.workers,
                        "clients": args.clients,
                        "loadavg_end": os.getloadavg(),
                    },
                    sort_keys=True,
                )
            )
            return 0

        app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
        with app.app_context():
            engine = db.engine
            keys = db.session.scalar(select(func.count()).select_from(SyncPending))
            worker = SyncWorker(
                engine,
                ErpClient(erp.url, erp.database, erp.key, 120),
                SyncSettings.from_config(app.config),
            )
            log(f"syncing {keys} summary rows into the ERP")
            start = time.perf_counter()
            report = worker.run_once()
            sync_s = time.perf_counter() - start
            sync_rate = report.rows_sent / sync_s
            log(f"sync: {sync_rate:,.0f} summary rows/s")

            log(f"lag: pushing {args.lag_rate} lines/s for {args.lag_seconds} s")
            lags, pushes = measure_lag(
                url, key, engine, environment, args.lag_rate, args.lag_seconds
            )
        lag_p95 = percentile(lags, 0.95) if lags else float("inf")
        result = {
            "backend": args.backend,
            "push_lines": inserted,
            "push_s": round(push_s, 2),
            "push_lines_per_s": round(push_rate),
            "sync_rows": report.rows_sent,
            "sync_s": round(sync_s, 2),
            "sync_rows_per_s": round(sync_rate),
            "lag_pushes": pushes,
            "lag_measured": len(lags),
            "lag_p50_s": round(statistics.median(lags), 3) if lags else None,
            "lag_p95_s": round(lag_p95, 3),
            "lag_max_s": round(max(lags), 3) if lags else None,
            "gunicorn_workers": args.workers,
            "clients": args.clients,
            "loadavg_end": os.getloadavg(),
            "python": platform.python_version(),
        }
        ok = {
            "push": args.backend != "sqlite" or push_rate >= PUSH_TARGET,
            "sync": sync_rate >= SYNC_TARGET,
            "lag": lag_p95 < LAG_TARGET,
        }
        result["ok"] = ok
        result["all_ok"] = all(ok.values())
        rows = [
            ("push (lines/s)", f"{push_rate:,.0f}", f">= {PUSH_TARGET:,.0f} (SQLite)"),
            ("sync (summary rows/s)", f"{sync_rate:,.0f}", f">= {SYNC_TARGET:,.0f}"),
            (f"lag p95 at {args.lag_rate} lines/s", f"{lag_p95:.2f} s", "< 5 s"),
        ]
        print()
        print(f"{'figure':34} {'value':>12}  target")
        for (name, value, target), passed in zip(rows, ok.values(), strict=True):
            print(f"{name:34} {value:>12}  {target}  {'ok' if passed else 'NOT OK'}")
        print()
        print("RESULT " + json.dumps(result, sort_keys=True))
        return 1 if args.check and not result["all_ok"] else 0
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
        erp.drop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
