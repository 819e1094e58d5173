"""A real ERP for the browser tests: the demo database, trytond serving the
sao web client on a free loopback port, and headless Debian Chromium.

The database is built once per session exactly as ``make demo`` builds it
(trytond-admin, zh_CN, ``fixtures.load_demo``) in a temporary folder. A
failing test leaves a screenshot and the page's HTML in
``var/test-artifacts/browser/``.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
DATABASE = "crm_browser"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args, env, what):
    started = time.perf_counter()
    completed = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if completed.returncode:
        raise RuntimeError(
            f"{what} failed ({completed.returncode}):\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
    print(f"[browser] {what}: {time.perf_counter() - started:.0f} s", flush=True)


@pytest.fixture(scope="session")
def sao_root():
    """The web client installed by .ci/sao.sh (npm, once per checkout)."""
    completed = subprocess.run(
        [str(ROOT / ".ci" / "sao.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def erp(tmp_path_factory, sao_root):
    """Start trytond on the demo database and yield how to reach it."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "Chromium and chromium-driver are missing: "
            "run .ci/system-deps.sh browser (make test does)"
        )
    directory = tmp_path_factory.mktemp("erp")
    password = secrets.token_urlsafe(12)
    passfile = directory / "password"
    passfile.write_text(password + "\n")
    (directory / f"{DATABASE}.sqlite").touch()
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TRYTOND_") and key != "TRYTON_CONFIG"
    }
    env.update(
        {
            "TRYTOND_DATABASE__URI": "sqlite://",
            "TRYTOND_DATABASE__PATH": str(directory),
            "TRYTOND_WEB__ROOT": sao_root,
            "TRYTOND_WEB__LISTEN": f"127.0.0.1:{port}",
            "TRYTONPASSFILE": str(passfile),
            "CRM_DEMO_PASSWORD": password,
            "PYTHONPATH": str(ROOT),
        }
    )
    admin = str(BIN / "trytond-admin")
    _run(
        [admin, "-d", DATABASE, "--all", "--email", "admin@example.com"],
        env,
        "database",
    )
    _run(
        [admin, "-d", DATABASE, "-u", "crm_module", "--activate-dependencies"],
        env,
        "crm_module",
    )
    _run([admin, "-d", DATABASE, "--all", "-l", "zh_CN"], env, "zh_CN")
    _run([str(BIN / "python"), "-m", "fixtures.load_demo", DATABASE], env, "demo data")

    log = open(directory / "trytond.log", "w")  # noqa: SIM115 - kept open while it runs
    server = subprocess.Popen(
        [str(BIN / "trytond"), "-d", DATABASE],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(
                        (directory / "trytond.log").read_text()
                    ) from None
                time.sleep(0.5)
        else:
            raise RuntimeError("trytond did not answer on " + url)
        yield {
            "url": url,
            "database": DATABASE,
            "password": password,
            "env": env,
            "directory": directory,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def browser(request):
    """A headless Chromium of the test's own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1400,1000",
        "--lang=en-US",
    ]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
        (ARTIFACTS / f"{name}.html").write_text(driver.page_source)
    driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture(scope="session", autouse=True)
def _clean_artifacts():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
