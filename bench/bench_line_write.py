"""What writing an evaluation's lines costs on PostgreSQL, with and
without the foreign keys Tryton gives their Many2One fields.

    .venv/bin/python -m bench.bench_evaluation --backend postgresql --keep
    .venv/bin/python -m bench.bench_line_write [--database crm_bench]

Run it on the database bench_evaluation kept. It copies the lines of the
newest evaluation into a temporary table, then times, each in a rolled back
transaction:

1. the bare 12-month aggregate, as bench_evaluation runs it;
2. inserting those lines again into ``crm_evaluation_line``, which checks
   its five foreign keys (evaluation, party and three tiers) row by row;
3. inserting them into a copy of that table with the same columns, defaults
   and indexes but no foreign keys.

Step 2 is the least any compute that stores its lines must spend, whatever
it computes them with; bench/README.md explains what it means for the
"compute within 3x of the bare aggregate" target.
"""

import argparse
import json
import statistics
import time

from bench.bench_evaluation import DEFAULT_DATABASE, PostgreSQLTarget

RUNS = 5


def timed(connection, sql, params=(), setup=None):
    "Median and runs of sql, each run rolled back"
    runs = []
    with connection.cursor() as cursor:
        for _ in range(RUNS):
            if setup:
                cursor.execute(setup)
            started = time.perf_counter()
            cursor.execute(sql, params)
            if cursor.description:
                cursor.fetchall()
            runs.append(time.perf_counter() - started)
            connection.rollback()
    return statistics.median(runs), runs


def main():
    import psycopg

    parser = argparse.ArgumentParser(
        description="Time writing evaluation lines with and without their foreign keys"
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    args = parser.parse_args()
    target = PostgreSQLTarget(args.database)
    connection = psycopg.connect(target.uri + args.database)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id, e.start_date, e.end_date, count(l.id) "
            "FROM crm_evaluation e JOIN crm_evaluation_line l ON l.evaluation = e.id "
            "GROUP BY e.id ORDER BY e.id DESC LIMIT 1"
        )
        found = cursor.fetchone()
        if not found:
            raise SystemExit(
                f"no evaluation with lines in {args.database}: "
                "run bench_evaluation --backend postgresql --keep first"
            )
        evaluation, start, end, count = found
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'crm_evaluation_line' AND column_name <> 'id' "
            "ORDER BY ordinal_position"
        )
        columns = ", ".join(f'"{name}"' for (name,) in cursor.fetchall())
        cursor.execute(
            f"CREATE TEMP TABLE bench_lines AS SELECT {columns} "
            "FROM crm_evaluation_line WHERE evaluation = %s",
            (evaluation,),
        )
    connection.commit()

    insert = "INSERT INTO {} (" + columns + ") SELECT " + columns + " FROM bench_lines"
    figures = {
        "bare aggregate (12 months)": timed(
            connection,
            "SELECT party, SUM(revenue), SUM(cost) FROM crm_sales_summary "
            "WHERE month >= %s AND month <= %s GROUP BY party",
            (start, end),
        ),
        "insert lines, 5 foreign keys": timed(
            connection,
            insert.format("crm_evaluation_line"),
        ),
        "insert lines, no foreign keys": timed(
            connection,
            insert.format("bench_line_copy"),
            setup="CREATE TEMP TABLE bench_line_copy "
            "(LIKE crm_evaluation_line INCLUDING ALL) ON COMMIT DROP",
        ),
    }
    bare = figures["bare aggregate (12 months)"][0]
    print(f"\nwriting {count:,} evaluation lines, postgresql {target.describe()}")
    print(f"{'figure':<32}  {'median':>8}  {'x bare':>6}  runs")
    for label, (median, runs) in figures.items():
        print(
            f"{label:<32}  {median:>6.3f} s  {median / bare:>5.1f}x  "
            + " ".join(f"{r:.3f}" for r in runs)
        )
    print(
        "RESULT "
        + json.dumps(
            {
                "benchmark": "crm_evaluation_line_write",
                "lines": count,
                **{label: round(median, 4) for label, (median, _) in figures.items()},
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
