"""The one-click link in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium): open the card's link, read the confirmation, press the button, see the silence; a
tampered link shows the refusal and makes nothing. Skipped with the reason where there is no
Chromium (CI installs it, see .ci/run, and sets KEA_REQUIRE_REAL=1 so a skip fails there)."""
from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest
from prometheus_client import CollectorRegistry

from notifiers.samples import sample_alert
from notifiers.silencelink import SilenceLinker
from notifiers.clock import utcnow
from watcher.health import Health, StatusServer
from watcher.silences.filestore import FileSilenceStore
from watcher.silences.page import SilenceLinkPage

SECRET = "link-secret-5e8d2c7a9b1f4036"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _unavailable(reason: str) -> None:
    if os.environ.get("KEA_REQUIRE_REAL") == "1":
        pytest.fail(f"KEA_REQUIRE_REAL=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install selenium, see setup.cfg [test])")
    if not (CHROMIUM and DRIVER):
        _unavailable("no Chromium here (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def daemon(tmp_path) -> Iterator[tuple[str, FileSilenceStore]]:
    store = FileSilenceStore(tmp_path)
    server = StatusServer("127.0.0.1", 0, health=Health(), registry=CollectorRegistry(),
                          apps=[SilenceLinkPage(store, secret=SECRET, timezone="Asia/Shanghai")])
    server.start()
    yield f"http://127.0.0.1:{server.port}", store
    server.stop()


def text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def test_open_the_link_confirm_and_see_the_silence(browser, daemon) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, store = daemon
    alert = sample_alert("oom", now=utcnow())
    browser.get(SilenceLinker(base, SECRET, clock=utcnow).url(alert))
    assert text(browser, "heading") == "静默 1 小时"
    assert (text(browser, "rule"), text(browser, "key")) == (alert.rule, alert.key)
    assert store.list() == []  # opening the link changes nothing
    browser.find_element(By.ID, "confirm").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "silence-id")))
    assert text(browser, "heading") == "已静默"
    (made,) = store.list()
    assert text(browser, "silence-id") == made.id and made.created_by == "link"
    assert made.matches(alert) and made.active(utcnow())
    assert not made.matches(sample_alert("unhealthy", now=utcnow()))


def test_a_tampered_link_shows_the_refusal(browser, daemon) -> None:
    base, store = daemon
    url = SilenceLinker(base, SECRET, clock=utcnow).url(sample_alert("oom", now=utcnow()))
    browser.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))
    assert text(browser, "heading") == "链接无效"
    assert "signature does not match" in browser.page_source
    assert store.list() == []
