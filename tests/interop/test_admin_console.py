"""The web console in a real browser: headless Chromium (Debian chromium
and chromium-driver) driven by Selenium (PyPI), as tests/console/install.sh
installs them. One operator's afternoon: log in, approve the registration
an ftplib client made with SITE REGISTER, change its quota and see SITE
QUOTA follow, disconnect its live session and see the connection close,
read the audit log, log out, and get locked out after wrong passwords.
Every page is screenshotted under the test's tmp dir and checked with
axe-core (npm; its axe.min.js injected into the page): a serious or
critical violation fails the test. A missing browser, driver or axe FAILS."""

from __future__ import annotations

import ftplib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from admin_http import ADMIN, ADMIN_PASSWORD, start_with_console
from wharf_helpers import TIMEOUT

AXE = Path(__file__).resolve().parents[1] / "console" / "node_modules" / "axe-core" / "axe.min.js"
QUOTA_LINE_RE = re.compile(r"used=(\d+);limit=(\d+|none);free=(\d+|none);in-flight=(\d+);")
MIB = 1024 * 1024

pytestmark = pytest.mark.time_limit(240)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: run tests/console/install.sh", pytrace=False)
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_bin:
        pytest.fail("chromium or chromedriver is missing: run tests/console/install.sh",
                    pytrace=False)
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run tests/console/install.sh", pytrace=False)
    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=412,915",  # a phone
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()  # ends chromedriver (by its PID) and the browser


class Console:
    """The browser on one server's console, screenshotting and checking
    accessibility page by page."""

    def __init__(self, driver, base: str, shots: Path):
        self.d, self.base, self.shots = driver, base, shots
        self.axe = AXE.read_text()
        shots.mkdir(parents=True, exist_ok=True)

    def open(self, path: str) -> None:
        self.d.get(self.base + path)

    def field(self, element_id: str):
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.ID, element_id)

    def button(self, text: str):
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.XPATH, f"//button[normalize-space()='{text}']")

    def link(self, text: str):
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.LINK_TEXT, text)

    def go(self, element) -> None:
        """Clicks a link or a submit button and waits for the next page."""
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
        old = self.d.find_element(By.TAG_NAME, "html")
        element.click()

        def left(_) -> bool:
            # the old page's root is gone; chromedriver may say so as a
            # stale reference or, mid-navigation, as "does not belong to
            # the document"
            try:
                old.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return True
                raise
        WebDriverWait(self.d, 15).until(left)

    def text(self) -> str:
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.TAG_NAME, "body").text

    def check(self, name: str) -> None:
        """Screenshot, phone-width layout, and axe-core: no serious or
        critical violation."""
        self.d.save_screenshot(str(self.shots / f"{name}.png"))
        assert self.d.execute_script(
            "return document.querySelector('meta[name=viewport]') !== null"), name
        overflow = self.d.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the phone's screen"
        self.d.execute_script(self.axe)
        result = self.d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then(r => done(r.violations)).catch(e => done({error: String(e)}));")
        assert not isinstance(result, dict), f"axe-core failed on {name}: {result}"
        bad = [f"{v['id']} ({v['impact']}): {v['help']} at "
               f"{[n['target'] for n in v['nodes']][:3]}"
               for v in result if v.get("impact") in ("serious", "critical")]
        assert not bad, f"accessibility violations on {name}:\n" + "\n".join(bad)

    def log_in(self, password: str = ADMIN_PASSWORD, code: str | None = None) -> None:
        self.open("/console/login")
        self.field("name").send_keys(ADMIN)
        self.field("password").send_keys(password)
        if code is not None:
            self.field("code").send_keys(code)
        self.go(self.button("Log in"))


def site_quota_limit(f: ftplib.FTP) -> int | None:
    m = QUOTA_LINE_RE.search(f.sendcmd("SITE QUOTA"))
    assert m, "SITE QUOTA has no machine line"
    return None if m.group(2) == "none" else int(m.group(2))


def test_an_operator_runs_the_server_from_the_browser(wharfd_factory, browser, tmp_path):
    srv, base = start_with_console(wharfd_factory, ["--registration", "approval"])
    c = Console(browser, base, tmp_path / "screenshots")

    c.open("/console/")
    assert browser.current_url.endswith("/console/login"), "pages need a login"
    c.check("login")

    reg = ftplib.FTP(timeout=TIMEOUT)
    reg.connect(srv.host, srv.port)
    assert reg.sendcmd("SITE REGISTER newbie a-long-password").startswith("200")
    reg.close()

    c.log_in()
    assert browser.current_url.endswith("/console/"), browser.current_url
    assert "1 pending" in browser.page_source, "the dashboard shows no pending badge"
    c.check("dashboard")

    c.go(c.link("Pending 1"))
    assert "newbie" in c.text() and "127.0.0.1" in c.text()
    c.check("pending")
    c.field("quota-newbie").send_keys("3M")
    c.go(c.button("Approve newbie"))
    assert "approved newbie with a quota of 3.0 MiB" in c.text(), c.text()
    assert "No registrations are waiting." in c.text()
    c.check("pending-approved")

    f = srv.ftp(user="newbie", password="a-long-password")
    assert site_quota_limit(f) == 3 * MIB

    c.go(c.link("Accounts"))
    c.field("q").send_keys("new")
    c.go(c.button("Search"))
    assert "1 to 1 of 1 accounts." in c.text(), c.text()
    c.check("accounts")
    c.go(c.link("newbie"))
    c.check("account")
    c.field("quota").send_keys("9M")
    c.go(c.button("Set quota"))
    assert "newbie is active with a quota of 9.0 MiB" in c.text(), c.text()
    assert site_quota_limit(f) == 9 * MIB, "SITE QUOTA did not follow the console's change"

    c.go(c.link("Sessions"))
    assert "newbie" in c.text()
    c.check("sessions")
    from selenium.webdriver.common.by import By
    c.go(browser.find_element(
        By.XPATH, "//button[starts-with(normalize-space(), 'Disconnect newbie')]"))
    assert "disconnected session" in c.text(), c.text()
    f.sock.settimeout(10)
    assert f.sock.recv(4096).startswith(b"421"), "no 421 before the close"
    assert f.sock.recv(4096) == b"", "the disconnected session's connection stayed open"
    f.close()

    # groups and folders made with the CLI are shown
    for args in (["groups", "add", "staff"], ["users", "groups", "newbie", "staff"],
                 ["folders", "add", "team", "--dir", str(srv.data / "team"), "--quota", "1M"]):
        cp = subprocess.run([str(srv.bin), *args, "--data", str(srv.data)], capture_output=True,
                            timeout=60)
        assert cp.returncode == 0, cp.stderr
    c.go(c.link("Groups and folders"))
    text = c.text()
    assert "staff" in text and "newbie" in text and "team" in text and "1.0 MiB" in text, text
    c.check("groups")

    c.go(c.link("Audit log"))
    text = c.text()
    for action in ("registrations.approve", "accounts.quota", "sessions.disconnect", "login"):
        assert action in text, f"the audit log lacks {action}:\n{text}"
    c.check("audit")

    c.go(c.button(f"Log out {ADMIN}"))
    assert browser.current_url.endswith("/console/login")
    c.open("/console/accounts")
    assert browser.current_url.endswith("/console/login"), "the session outlived its logout"

    for _ in range(5):
        c.log_in(password="wrong-password")
        assert "wrong admin name or password" in c.text(), c.text()
    c.log_in()
    assert "too many failed logins" in c.text(), c.text()
    assert browser.current_url.endswith("/console/login")
    c.check("locked-out")


def test_the_accounts_pages_page_through_many_accounts(wharfd_factory, browser, tmp_path):
    from admin_http import Api, token
    srv, base = start_with_console(wharfd_factory)
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    for i in range(55):
        assert api.call("POST", "/api/accounts",
                        {"name": f"user{i:02}", "password": "pw-pw-pw-pw"}).status == 201
    c = Console(browser, base, tmp_path / "screenshots")
    c.log_in()
    c.go(c.link("Accounts"))
    assert "1 to 50 of 56 accounts." in c.text(), c.text()  # with alice
    c.check("accounts-page-1")
    c.go(c.link("Next page"))
    assert "51 to 56 of 56 accounts." in c.text(), c.text()
    assert "user54" in c.text() and "user00" not in c.text()
    c.check("accounts-page-2")
    c.go(c.link("Previous page"))
    assert "1 to 50 of 56 accounts." in c.text(), c.text()
    c.field("q").send_keys("user5")
    c.go(c.button("Search"))
    assert "1 to 5 of 5 accounts." in c.text(), c.text()


def test_a_totp_admin_logs_in_with_a_code(wharfd_factory, browser, tmp_path):
    from admin_http import enrol_totp, totp_code
    srv, base = start_with_console(wharfd_factory)
    secret = enrol_totp(srv.bin, srv.data)
    c = Console(browser, base, tmp_path / "screenshots")
    c.log_in()  # the password alone is not enough
    assert "wrong admin name or password" in c.text(), c.text()
    assert browser.current_url.endswith("/console/login")
    c.check("login-totp-refused")
    c.log_in(code=totp_code(secret))
    assert browser.current_url.endswith("/console/"), c.text()
    assert "Log out opal" in c.text()


def test_groups_and_folders_are_changed_in_the_console(wharfd_factory, browser, tmp_path):
    import io
    from wharf_helpers import USER
    srv, base = start_with_console(wharfd_factory)
    c = Console(browser, base, tmp_path / "screenshots")
    c.log_in()
    c.go(c.link("Groups and folders"))
    c.check("groups-empty")
    c.field("group-name").send_keys("readers")
    c.field("group-policy").send_keys("permissions list,download")
    c.go(c.button("Create group"))
    assert browser.current_url.split("?")[0].endswith("/console/groups/readers"), browser.current_url
    assert "created group readers" in c.text(), c.text()
    c.field("member").send_keys(USER)
    c.go(c.button("Add member"))
    assert f"{USER} is a member of readers" in c.text(), c.text()
    c.check("group")
    # a second "create" of the same name changes nothing
    c.open("/console/groups")
    c.field("group-name").send_keys("readers")
    c.field("group-policy").send_keys("permissions all")
    c.go(c.button("Create group"))
    assert "group readers already exists" in c.text(), c.text()
    c.open("/console/groups/readers")
    # the member's permissions follow at once: read-only now
    f = srv.ftp()
    with pytest.raises(ftplib.error_perm, match="Not permitted"):
        f.storbinary("STOR nope.bin", io.BytesIO(b"y"))
    f.quit()
    # a bad policy is refused with the reason, and nothing changes
    c.field("policy").clear()
    c.field("policy").send_keys("colour blue")
    c.go(c.button("Save policy"))
    assert "bad policy" in c.text(), c.text()
    c.check("group-bad-policy")
    c.open("/console/groups/readers")
    c.field("policy").clear()
    c.field("policy").send_keys("permissions all")
    c.go(c.button("Save policy"))
    assert "saved the policy of readers" in c.text(), c.text()
    f = srv.ftp()
    f.storbinary("STOR yes.bin", io.BytesIO(b"y"))
    f.quit()
    # a group with members is removed only when forced, as with the CLI
    c.go(c.button("Remove group readers"))
    assert "still has 1 member(s)" in c.text(), c.text()
    c.open("/console/groups/readers")
    c.field("group-force").click()
    c.go(c.button("Remove group readers"))
    assert "removed group readers" in c.text(), c.text()

    team = tmp_path / "team"
    c.field("folder-name").send_keys("team")
    c.field("folder-dir").send_keys(str(team))
    c.field("folder-quota").send_keys("2M")
    c.go(c.button("Add folder"))
    assert "added folder team" in c.text() and "2.0 MiB" in c.text(), c.text()
    assert team.is_dir()
    c.check("folders")
    c.field("folder-quota-team").send_keys("5M")
    c.go(c.button("Set quota of team"))
    assert "folder team has a quota of 5.0 MiB" in c.text(), c.text()
    c.go(c.button("Remove team"))
    assert "removed folder team" in c.text(), c.text()
    assert "No shared folders yet." in c.text()

    c.go(c.link("Audit log"))
    for action in ("groups.put", "groups.members.add", "groups.remove", "folders.add",
                   "folders.quota", "folders.remove"):
        assert action in c.text(), action


def wait_for(predicate, what: str, timeout: float = 15.0):
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"waited {timeout} s for {what}", pytrace=False)


def test_the_pending_queue_updates_without_a_reload(wharfd_factory, browser, tmp_path):
    from selenium.webdriver.common.by import By
    srv, base = start_with_console(wharfd_factory, ["--registration", "approval"])
    c = Console(browser, base, tmp_path / "screenshots")
    c.log_in()
    # the dashboard's badge and count follow a registration made meanwhile
    assert not browser.find_element(By.ID, "pending-badge").is_displayed()
    browser.execute_script("window.stillThisPage = true")
    reg = ftplib.FTP(timeout=TIMEOUT)
    reg.connect(srv.host, srv.port)
    assert reg.sendcmd("SITE REGISTER early a-long-password").startswith("200")
    wait_for(lambda: browser.find_element(By.ID, "pending-badge").text == "1", "the badge")
    assert browser.find_element(By.ID, "pending-count").text == "1"
    assert browser.execute_script("return window.stillThisPage === true"), "the page was reloaded"

    c.go(c.link("Pending 1"))
    assert "early" in c.text()
    browser.execute_script("window.stillThisPage = true")
    # a half-typed quota in an existing row survives the update
    c.field("quota-early").send_keys("7M")
    assert reg.sendcmd("SITE REGISTER newbie a-long-password").startswith("200")
    reg.close()
    wait_for(lambda: "newbie" in c.text(), "the new registration on the open page")
    assert browser.execute_script("return window.stillThisPage === true"), "the page was reloaded"
    assert browser.find_element(By.ID, "live-status").get_attribute("textContent") \
        == "New registration: newbie"
    assert browser.find_element(By.ID, "pending-badge").text == "2"
    assert c.field("quota-early").get_attribute("value") == "7M"
    c.check("pending-live")
    # the added row's forms work
    c.field("quota-newbie").send_keys("3M")
    c.go(c.button("Approve newbie"))
    assert "approved newbie with a quota of 3.0 MiB" in c.text(), c.text()
    # a row decided elsewhere (here: the CLI) goes away
    browser.execute_script("window.stillThisPage = true")
    cp = subprocess.run([str(srv.bin), "users", "reject", "early", "--data", str(srv.data)],
                        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    wait_for(lambda: "No registrations are waiting." in c.text(), "the rejected row to go")
    assert browser.execute_script("return window.stillThisPage === true")
    assert not browser.find_element(By.ID, "pending-badge").is_displayed()


def test_a_visitor_registers_on_the_public_page(wharfd_factory, browser, tmp_path):
    from admin_http import Api, token
    srv, base = start_with_console(wharfd_factory, ["--public-register"])
    c = Console(browser, base, tmp_path / "screenshots")
    c.open("/register")
    c.check("register")
    c.field("name").send_keys("webbie")
    c.field("password").send_keys("a-long-password")
    c.field("again").send_keys("a-long-password")
    c.field("contact").send_keys("webbie@example.org")
    c.go(c.button("Register"))
    assert "awaits the operator's approval" in c.text(), c.text()
    c.check("register-sent")

    def ask() -> str:
        c.field("name").send_keys("webbie")
        c.field("password").send_keys("a-long-password")
        c.go(c.button("Show status"))
        return c.text()

    assert "webbie — pending" in ask()
    c.check("register-pending")
    api = Api(base, token=token(srv.bin, srv.data, "admin"))
    assert api.call("POST", "/api/registrations/webbie/approve", {"quota": "4M"}).status == 200
    c.go(c.link("Ask again"))
    assert "webbie — approved" in ask()
    c.check("register-approved")
    f = srv.ftp(user="webbie", password="a-long-password")
    assert site_quota_limit(f) == 4 * MIB
    f.quit()
    # a refusal keeps the name and says why, accessibly
    c.open("/register")
    c.field("name").send_keys("webbie")
    c.field("password").send_keys("another-password")
    c.field("again").send_keys("another-password")
    c.go(c.button("Register"))
    assert "That name is already taken" in c.text(), c.text()
    assert c.field("name").get_attribute("value") == "webbie"
    c.check("register-refused")
