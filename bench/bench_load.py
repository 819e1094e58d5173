"""Load run: several systems push sales while finance pulls reports.

    .venv/bin/python -m bench.bench_load [--backend sqlite|postgresql]
        [--seconds 120] [--clients 3] [--rate 2000] [--batch 1000]
        [--pullers 1] [--workers 2] [--check]

Builds a throw-away ERP (trytond on SQLite with crm_module, the demo
company and its customers) and a throw-away API database, serves the API
with gunicorn (``--workers``) and runs ``flask sync run`` beside it, as a
deployment does. Then, for ``--seconds``:

- ``--clients`` pushing clients each send batches of ``--batch`` lines at
  ``--rate`` lines per second (0: as fast as the API answers). Every fifth
  batch is sent a second time unchanged, every seventh re-sends an earlier
  batch as revision 2 with other amounts, and every eleventh cancels an
  earlier line: the retries and corrections senders really make;
- ``--pullers`` finance clients pull, one after the other, the reports and
  the read endpoints (every report route of the API that answers for this
  data, the sales list and the sync status).

Any answer other than 2xx (304 counts as an answer for a conditional pull)
or a failed connection is an error. Afterwards it waits until the worker
has synced everything and compares the ERP's stored totals with totals
recomputed here from what each client last pushed: a lost or doubled line
shows up as a mismatch.

Prints throughput, the error count (must be 0), latency percentiles per
kind of call, the resident memory of the API workers sampled through the
run (first and last quarter), and one line ``RESULT {json}``.
"""

import argparse
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sync import (  # noqa: E402
    api_environment,
    flask,
    percentile,
    start_api,
)
from fixtures.demo_data import customers as demo_customers  # noqa: E402
from tests.erp_server import BIN, ErpServer  # noqa: E402

SOURCE = "load"
# Report pulls that answer for a company with customers and no evaluation
# yet; routes missing from this build of the API are skipped after one 404.
PULLS = [
    "/api/v1/sync/status",
    "/api/v1/sales?limit=100",
    "/api/v1/reports/evaluations",
    "/api/v1/reports/tiers",
    "/api/v1/reports/tiers?format=csv",
    "/api/v1/reports/complaints?from=2025-01-01&to=2026-06-30&group_by=month",
    "/api/v1/reports/visits?period=2026-H1",
    "/api/v1/reports/visits?period=2026-H1&format=xlsx",
]
MEMORY_SAMPLE_SECONDS = 2.0
_started = time.perf_counter()


def log(message):
    print(f"[{time.perf_counter() - _started:7.1f}s] {message}", flush=True)


def customer_codes():
    return [customer.code for customer in demo_customers()]


class Pusher:
    """One sending system: remembers the last content it pushed per line."""

    def __init__(self, number, url, key, customers, batch, rate):
        self.number = number
        self.url = url
        self.batch = batch
        self.rate = rate
        self.customers = customers
        self.random = random.Random(number)
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        )
        self.last = {}  # external_id -> line as last accepted
        self.sent_batches = []
        self.latencies = []
        self.errors = []
        self.lines_sent = 0
        self.counter = 0

    def new_line(self):
        self.counter += 1
        month = self.random.randrange(18)
        return {
            "external_id": f"L{self.number}-{self.counter}",
            "customer": self.random.choice(self.customers),
            "date": f"{2025 + month // 12}-{month % 12 + 1:02d}-"
            f"{self.random.randrange(1, 29):02d}",
            "quantity": str(self.random.randrange(1, 50)),
            "amount": self.money(100, 99_999),
            "cost": self.money(50, 50_000),
            "currency": "CNY",
            "product": f"P{self.random.randrange(200):03d}",
        }

    def money(self, low, high):
        cents = self.random.randrange(100)
        return f"{self.random.randrange(low, high)}.{cents:02d}"

    def current(self, lines):
        "The lines as last accepted: a retry must send what the API holds"
        return [self.last[line["external_id"]] for line in lines]

    def next_batch(self, count):
        """The next batch and whether it is new lines; revisions and
        cancellations build on the content last accepted."""
        if count % 5 == 4 and self.sent_batches:
            return self.current(self.sent_batches[-1]), False  # a retry
        if count % 7 == 6 and self.sent_batches:
            revised = []
            for line in self.current(self.random.choice(self.sent_batches)):
                if line.get("status") == "cancelled":
                    continue
                line = dict(line, revision=line.get("revision", 1) + 1)
                line["amount"] = str(Decimal(line["amount"]) + Decimal("1.01"))
                revised.append(line)
            if revised:
                return revised, False
        if count % 11 == 10 and self.sent_batches:
            line = self.current(self.random.choice(self.sent_batches)[:1])[0]
            if line.get("status") != "cancelled":
                revision = line.get("revision", 1) + 1
                return [dict(line, revision=revision, status="cancelled")], False
        return [self.new_line() for _ in range(self.batch)], True

    def run(self, deadline):
        count = 0
        start = time.perf_counter()
        while time.perf_counter() < deadline:
            lines, new = self.next_batch(count)
            count += 1
            body = json.dumps({"source": SOURCE, "lines": lines}).encode()
            began = time.perf_counter()
            try:
                response = self.session.post(
                    self.url + "/api/v1/sales", data=body, timeout=60
                )
            except requests.RequestException as error:
                self.errors.append(f"push: {error.__class__.__name__}")
                continue
            self.latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                self.errors.append(
                    f"push: HTTP {response.status_code} {response.text[:200]}"
                )
                continue
            for line in lines:
                self.last[line["external_id"]] = line
            if new:
                self.sent_batches.append(lines)
            self.lines_sent += len(lines)
            if self.rate:
                time.sleep(
                    max(0.0, start + self.lines_sent / self.rate - time.perf_counter())
                )


class Puller:
    "Finance: pulls every report in turn, conditionally when it has an ETag"

    def __init__(self, url, key):
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.latencies = defaultdict(list)
        self.errors = []
        self.etags = {}
        self.missing = set()

    def run(self, deadline):
        while time.perf_counter() < deadline:
            for path in PULLS:
                if path in self.missing or time.perf_counter() >= deadline:
                    continue
                headers = {}
                if path in self.etags and random.random() < 0.5:
                    headers["If-None-Match"] = self.etags[path]
                began = time.perf_counter()
                try:
                    response = self.session.get(
                        self.url + path, headers=headers, timeout=60
                    )
                except requests.RequestException as error:
                    self.errors.append(f"{path}: {error.__class__.__name__}")
                    continue
                elapsed = time.perf_counter() - began
                if response.status_code == 404 and path.startswith("/api/v1/reports"):
                    # This build of the API has no such report yet.
                    self.missing.add(path)
                    continue
                kind = path.split("?")[0].removeprefix("/api/v1/")
                self.latencies[kind].append(elapsed)
                if response.status_code not in (200, 304):
                    self.errors.append(
                        f"{path}: HTTP {response.status_code} {response.text[:200]}"
                    )
                elif "ETag" in response.headers:
                    self.etags[path] = response.headers["ETag"]


def worker_pids(master):
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in children.split()]


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def expected_totals(pushers):
    "Totals per (customer, month, currency) of what the clients last pushed"
    totals = defaultdict(lambda: {"revenue": Decimal(0), "line_count": 0})
    for pusher in pushers:
        for line in pusher.last.values():
            if line.get("status") == "cancelled":
                continue
            key = (line["customer"], line["date"][:7], line["currency"])
            totals[key]["revenue"] += Decimal(line["amount"])
            totals[key]["line_count"] += 1
    return dict(totals)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--rate", type=int, default=2000, help="lines/s per client")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pullers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)

    directory = Path(tempfile.mkdtemp(prefix="bench_load_"))
    erp = ErpServer(directory / "erp")
    erp.directory.mkdir()
    processes = []
    try:
        environment = api_environment(erp, args, directory, 0.2)
        flask(environment, "db", "upgrade")
        push_key = flask(
            environment,
            "keys",
            "create",
            "--name",
            "load-push",
            "--scope",
            "sales:write",
            "--source",
            SOURCE,
        )
        read_key = flask(
            environment,
            "keys",
            "create",
            "--name",
            "load-finance",
            "--scope",
            "reports:read",
            "--scope",
            "sales:read",
        )
        gunicorn, url = start_api(environment, args.workers)
        processes.append(gunicorn)
        processes.append(
            subprocess.Popen(
                [str(BIN / "flask"), "--app", "sync_api", "sync", "run"],
                env=environment,
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
            )
        )

        customers = customer_codes()
        pushers = [
            Pusher(n, url, push_key, customers, args.batch, args.rate)
            for n in range(args.clients)
        ]
        pullers = [Puller(url, read_key) for _ in range(args.pullers)]
        memory = []  # (seconds since start, total RSS KiB of the workers)
        stop = threading.Event()

        def sample_memory():
            began = time.perf_counter()
            while not stop.wait(MEMORY_SAMPLE_SECONDS):
                pids = worker_pids(gunicorn.pid)
                memory.append(
                    (time.perf_counter() - began, sum(rss_kib(p) for p in pids))
                )

        log(
            f"load for {args.seconds:.0f} s: {args.clients} pushing clients at "
            f"{args.rate or 'max'} lines/s each, {args.pullers} finance puller(s)"
        )
        deadline = time.perf_counter() + args.seconds
        threads = [threading.Thread(target=sample_memory)]
        threads += [threading.Thread(target=p.run, args=(deadline,)) for p in pushers]
        threads += [threading.Thread(target=p.run, args=(deadline,)) for p in pullers]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads[1:]:
            thread.join()
        elapsed = time.perf_counter() - began
        stop.set()
        threads[0].join()

        log("waiting for the sync worker to send everything to the ERP")
        status_session = requests.Session()
        status_session.headers["Authorization"] = f"Bearer {read_key}"
        drain_deadline = time.monotonic() + 300
        backlog = None
        while time.monotonic() < drain_deadline:
            status = status_session.get(url + "/api/v1/sync/status", timeout=30).json()
            backlog = status["pending_keys"]
            if not backlog:
                break
            time.sleep(0.5)
        expected = expected_totals(pushers)
        stored = erp.summaries(SOURCE)
        mismatches = [
            key
            for key in expected.keys() | stored.keys()
            if key not in expected
            or key not in stored
            or stored[key]["revenue"] != expected[key]["revenue"]
            or stored[key]["line_count"] != expected[key]["line_count"]
        ]

        errors = [e for p in pushers for e in p.errors] + [
            e for p in pullers for e in p.errors
        ]
        push_latencies = [t for p in pushers for t in p.latencies]
        pull_latencies = defaultdict(list)
        for puller in pullers:
            for kind, values in puller.latencies.items():
                pull_latencies[kind].extend(values)
        lines = sum(p.lines_sent for p in pushers)
        quarter = max(len(memory) // 4, 1)
        memory_first = statistics.mean(m for _, m in memory[:quarter]) if memory else 0
        memory_last = statistics.mean(m for _, m in memory[-quarter:]) if memory else 0

        def summary(values):
            return {
                "count": len(values),
                "p50_ms": round(percentile(values, 0.50) * 1000, 1),
                "p95_ms": round(percentile(values, 0.95) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
            }

        result = {
            "backend": args.backend,
            "seconds": round(elapsed, 1),
            "clients": args.clients,
            "pullers": args.pullers,
            "gunicorn_workers": args.workers,
            "lines_pushed": lines,
            "push_lines_per_s": round(lines / elapsed),
            "pulls": sum(len(v) for v in pull_latencies.values()),
            "errors": len(errors),
            "error_samples": errors[:5],
            "backlog_after_drain": backlog,
            "summaries_checked": len(expected),
            "summary_mismatches": len(mismatches),
            "push_latency": summary(push_latencies) if push_latencies else None,
            "pull_latency": {k: summary(v) for k, v in sorted(pull_latencies.items())},
            "reports_skipped": sorted({p for x in pullers for p in x.missing}),
            "worker_rss_first_quarter_mib": round(memory_first / 1024, 1),
            "worker_rss_last_quarter_mib": round(memory_last / 1024, 1),
            "worker_rss_growth_pct": (
                round((memory_last - memory_first) * 100 / memory_first, 1)
                if memory_first
                else None
            ),
            "python": platform.python_version(),
        }
        ok = not errors and not mismatches and not backlog
        result["all_ok"] = ok
        print()
        rate = lines / elapsed
        print(f"pushed {lines:,} lines in {elapsed:.0f} s ({rate:,.0f} lines/s)")
        print(
            f"errors: {len(errors)}   summaries checked against recomputation: "
            f"{len(expected):,}, mismatches: {len(mismatches)}"
        )
        if push_latencies:
            s = result["push_latency"]
            print(
                f"{'push':28} n={s['count']:6}  p50 {s['p50_ms']:8.1f} ms  "
                f"p95 {s['p95_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms"
            )
        for kind, s in result["pull_latency"].items():
            print(
                f"{kind:28} n={s['count']:6}  p50 {s['p50_ms']:8.1f} ms  "
                f"p95 {s['p95_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms"
            )
        print(
            f"API workers' memory: {result['worker_rss_first_quarter_mib']} MiB "
            f"(first quarter) -> {result['worker_rss_last_quarter_mib']} MiB (last)"
        )
        print()
        print("RESULT " + json.dumps(result, sort_keys=True))
        return 1 if args.check and not ok else 0
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        erp.drop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
