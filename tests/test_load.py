"""A short load run: pushing clients and finance pulls at the same time.

The figures are the benchmark's (``bench/bench_load.py``, two minutes by
default); the test runs it for a few seconds and holds it to what must
never happen under load: an error answer, a line lost or counted twice.
"""

import json

from bench import bench_load
from tests.conftest import POSTGRESQL_URI


def test_load_run_has_no_error_and_loses_nothing(capsys, monkeypatch):
    arguments = ["--seconds", "20", "--clients", "3", "--rate", "1000", "--check"]
    if POSTGRESQL_URI:
        # The API database on the test cluster, as the rest of this run.
        monkeypatch.setenv("CRM_BENCH_POSTGRESQL_URI", POSTGRESQL_URI)
        arguments += ["--backend", "postgresql"]
    code = bench_load.main(arguments)
    output = capsys.readouterr().out
    result = json.loads(output.split("RESULT ", 1)[1])
    assert result["errors"] == 0, result["error_samples"]
    assert result["lines_pushed"] > 0
    assert result["summaries_checked"] > 0
    assert result["summary_mismatches"] == 0
    assert result["backlog_after_drain"] == 0
    assert code == 0
