"""The console's transfer history in a real browser (headless Chromium,
Selenium, axe-core: the fixtures of test_admin_console.py): transfers an
ftplib client made — two sessions writing the same name, a download, an
upload the quota refuses — appear on the dashboard's per-hour charts and
on the Transfers page, whose filter form narrows them without JavaScript;
both pages pass the accessibility scan at phone width."""

from __future__ import annotations

import ftplib
import io
import time

import pytest

from admin_http import start_with_console, token, Api
from test_admin_console import Console, browser  # noqa: F401 - the fixture
from wharf_helpers import USER

pytestmark = pytest.mark.time_limit(240)


def test_transfers_show_on_the_charts_and_the_filtered_history(wharfd_factory, browser, tmp_path):  # noqa: F811
    srv, base = start_with_console(wharfd_factory)
    admin = Api(base, token=token(srv.bin, srv.data, "admin"))
    used = admin.call("GET", f"/api/accounts/{USER}").body["used_bytes"]
    admin.call("PATCH", f"/api/accounts/{USER}", {"quota": str(used + 50_000)})
    one, two = srv.ftp(), srv.ftp()
    one.storbinary("STOR shared.txt", io.BytesIO(b"1" * 3000))
    two.storbinary("STOR shared.txt", io.BytesIO(b"2" * 4000))
    one.retrbinary("RETR shared.txt", lambda _: None)
    with pytest.raises(ftplib.Error):
        two.storbinary("STOR too-big.bin", io.BytesIO(b"x" * 80_000))
    one.quit()
    two.quit()
    deadline = time.monotonic() + 10
    while (len(admin.call("GET", "/api/transfers").body["transfers"]) < 4
           and time.monotonic() < deadline):
        time.sleep(0.1)

    c = Console(browser, base, tmp_path / "screenshots")
    c.log_in()
    from selenium.webdriver.common.by import By
    desc = browser.find_element(By.ID, "chart-count-d").get_attribute("textContent")
    assert "4 transfers in 24 hours" in desc, desc
    bars = browser.find_elements(By.CSS_SELECTOR, "svg[aria-labelledby^=chart-count] rect")
    assert len(bars) == 3, "uploads, downloads and failed of this hour"
    c.check("dashboard-charts")

    c.go(c.link("Transfers"))
    text = c.text()
    assert text.count("shared.txt") == 3 and "too-big.bin" in text, text
    assert "failed:" in text, text
    c.check("transfers")
    from selenium.webdriver.support.ui import Select
    Select(c.field("f-direction")).select_by_value("download")
    c.go(c.button("Filter"))
    assert "direction=download" in browser.current_url
    text = c.text()
    assert text.count("shared.txt") == 1 and "too-big.bin" not in text, text
    Select(c.field("f-direction")).select_by_value("")
    Select(c.field("f-status")).select_by_value("failed")
    c.go(c.button("Filter"))
    text = c.text()
    assert "too-big.bin" in text and "shared.txt" not in text, text
    c.check("transfers-failed")
