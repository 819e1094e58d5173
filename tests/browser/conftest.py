"""A real ERP for the browser tests: the demo database, trytond serving the
sao web client on a free loopback port, and headless Debian Chromium.

The database is built once per session exactly as ``make demo`` builds it
(trytond-admin, zh_CN, ``fixtures.load_demo``) in a temporary folder. A
failing test leaves a screenshot and the page's HTML in
``var/test-artifacts/browser/``.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.erp_server import REPOSITORY_ROOT, ErpServer
from tests.rpc import Rpc

from .sao import BROWSER_TIME_ZONE, Sao

ARTIFACTS = REPOSITORY_ROOT / "var" / "test-artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def sao_root():
    """The web client installed by .ci/sao.sh (npm, once per checkout)."""
    completed = subprocess.run(
        [str(REPOSITORY_ROOT / ".ci" / "sao.sh")],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def erp(tmp_path_factory, sao_root):
    """trytond serving the web client on the demo database."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "Chromium and chromium-driver are missing: "
            "run .ci/system-deps.sh browser (make test does)"
        )
    server = ErpServer(
        tmp_path_factory.mktemp("browser"), database="crm_browser", web_root=sao_root
    )
    server.build_demo()
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
    # The web client shows date-times in the browser's time zone: the demo's
    # users work in Beijing, as its company does.
    driver.execute_cdp_cmd(
        "Emulation.setTimezoneOverride", {"timezoneId": BROWSER_TIME_ZONE}
    )
    driver.implicitly_wait(0)
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
        (ARTIFACTS / f"{name}.html").write_text(driver.page_source)
    driver.quit()


@pytest.fixture
def sao(browser, erp):
    "The web client in the test's browser"
    return Sao(browser, erp)


@pytest.fixture(scope="session")
def admin(erp):
    "A JSON-RPC session of the administrator, to read what the screens did"
    return Rpc(erp, "admin", erp.password)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


@pytest.fixture(scope="session", autouse=True)
def _clean_artifacts():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
