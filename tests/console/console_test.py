"""The console in a real browser: headless Chromium driven by Selenium against a real tickd
and PostgreSQL.

- the list shows the seeded regions with the right next fire (computed here, independently,
  with zoneinfo) and the cron in words; the failing region comes first;
- clicking a region shows its runs (statuses, the error) and the chart of its recent runs;
- "run now" with a wrong token shows the API's error and starts nothing; with the right
  token it creates a `manual` run that appears on the page by itself (the refresh);
- a region named `<img src=x onerror=alert(1)>` shows those characters: no <img> element,
  no alert, and no Content-Security-Policy violation anywhere during the test;
- with TICKD_API_AUTH=all the page asks for the token before it shows any region.

Screenshots go to $TICKD_CONSOLE_SCREENSHOTS (a directory; docs/ for the README's), else to
the rig's temporary directory. Needs Debian's chromium, chromium-driver and python3-selenium
(./scripts/test installs them); tickd_rig.browser catches dialogs and CSP violations.
"""
import datetime
import os
import zoneinfo

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tickd_rig import browser, rig
from tickd_rig.util import check, wait_for

TOKEN = "console-test-token"
YEARLY = "0 0 1 1 *"  # never fires during the test
HOSTILE = "<img src=x onerror=alert(1)>"
WAIT = 30  # seconds: generous, the machine may be busy
BULK = 250
REGIONS = 10 + BULK

def next_new_year(zone):
    """The next 00:00 on January 1st in `zone`, as the console shows it (UTC)."""
    tz = zoneinfo.ZoneInfo(zone)
    now = datetime.datetime.now(tz)
    t = datetime.datetime(now.year + 1, 1, 1, tzinfo=tz)
    if datetime.datetime(now.year, 1, 1, tzinfo=tz) > now:
        t = datetime.datetime(now.year, 1, 1, tzinfo=tz)
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def seed(r):
    """The regions on the page: one of each state, a failing one and the hostile name."""
    r.add_region("new-year-utc", YEARLY, name="New year, UTC")
    r.add_region("new-year-tokyo", YEARLY, name="New year, Tokyo", timezone="Asia/Tokyo")
    r.add_region("nightly-report", "30 2 * * *", name="Nightly report", timezone="Europe/Paris")
    r.add_region("sampler", "*/2 * * * * *", name="Samples every 2 s",
                 tick_sql="SELECT pg_sleep(0.02 + random() * 0.15)")
    r.add_region("zero-division", "*/2 * * * * *", name="Fails on purpose", tick_sql="SELECT 1/0")
    r.add_region("manual", YEARLY, name="Run me by hand")
    r.add_region("hostile", YEARLY, name=HOSTILE)
    r.add_region("typo-hour", "0 25 * * *", name="An hour that does not exist")
    r.add_region("retired", "* * * * *", name="No longer used", active=False)
    r.add_region("on-hold", "*/5 * * * *", name="Paused for maintenance")
    r.sql("UPDATE region_index SET paused_at = now(), paused_by = 'ops', paused_reason = 'vendor maintenance' "
          "WHERE code = 'on-hold'")
    # Enough quiet regions for three pages of the list (100 each), sorted after the ones above.
    r.sql("INSERT INTO region_index (code, name, cron_schedule) "
          "SELECT 'zz-bulk-' || lpad(g::text, 3, '0'), 'Bulk ' || g, %s FROM generate_series(1, %s) g",
          [YEARLY, BULK])


# The page redraws its rows at every refresh (every few seconds): reads go through one script
# each, so that no element can be replaced between finding it and reading it.

def cell(driver, code, css):
    """The text of `css` in the list row of region `code`, or None when no such row is drawn."""
    return driver.execute_script(
        "const row = [...document.querySelectorAll('a.region-row')].find(r => r.dataset.code === arguments[0]);"
        "return row ? row.querySelector(arguments[1]).textContent : null;", code, css)


def listed_codes(driver):
    return driver.execute_script("return [...document.querySelectorAll('a.region-row')].map(r => r.dataset.code)")


def list_requests(driver):
    """The query strings of every /v1/regions request the page made."""
    return driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name))"
        ".filter(u => u.pathname === '/v1/regions').map(u => u.search)")


def run_rows(driver):
    """The runs table as (status, trigger, error) per row."""
    return [tuple(x) for x in driver.execute_script(
        "return [...document.querySelectorAll('#run-rows tr[data-run-id]')]"
        ".map(tr => [2, 3, 8].map(i => tr.children[i].textContent))")]


def until(driver, condition, what):
    return WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: condition(), message=what)


def click(driver, css):
    """Clicks the element `css`, found again if a refresh replaced it meanwhile."""
    def attempt():
        try:
            driver.find_element(By.CSS_SELECTOR, css).click()
            return True
        except (StaleElementReferenceException, NoSuchElementException):
            return False
    until(driver, attempt, "clicked %s" % css)


def screenshot(driver, directory, name):
    path = os.path.join(directory, name)
    driver.save_screenshot(path)
    print("screenshot: %s" % path)


def open_region(driver, code):
    if driver.find_element(By.ID, "region-view").is_displayed():  # back to the list first
        click(driver, '#region-view a[href="#/"]')
    until(driver, lambda: driver.find_element(By.ID, "list-view").is_displayed() and code in listed_codes(driver),
          "the list shows %s" % code)
    click(driver, 'a.region-row[data-code="%s"]' % code)
    until(driver, lambda: driver.find_element(By.ID, "r-code").text == code
          and driver.find_element(By.ID, "r-facts").text != "", "the region view of %s" % code)


def give_token(driver, value):
    until(driver, lambda: driver.find_element(By.ID, "token-dialog").is_displayed(), "the page asks for the token")
    driver.find_element(By.ID, "token-input").send_keys(value)
    driver.find_element(By.ID, "token-use").click()


def action_result(driver):
    out = driver.find_element(By.ID, "action-result")
    return out.get_attribute("class"), out.text


def test(r):
    shots = os.environ.get("TICKD_CONSOLE_SCREENSHOTS") or r.tmp
    seed(r)
    manual_id = r.sql_value("SELECT id FROM region_index WHERE code = 'manual'")
    t = r.start_tickd("a", TICKD_API_TOKEN=TOKEN)
    wait_for(lambda: r.sql_value("SELECT count(*) FROM job_run j JOIN region_index g ON g.id = j.region_id "
                                 "WHERE g.code = 'zero-division' AND j.status = 'failed'") > 0, 15,
             "zero-division has failed once")

    driver = browser.start()
    try:
        driver.get("http://127.0.0.1:%d/" % t.port)

        # --- the list ---
        until(driver, lambda: "new-year-utc" in listed_codes(driver), "the list shows the seeded regions")
        for code, zone in (("new-year-utc", "UTC"), ("new-year-tokyo", "Asia/Tokyo")):
            want = next_new_year(zone)
            check(cell(driver, code, ".next-utc") == want, "%s: next fire %s" % (code, want),
                  cell(driver, code, ".next-utc"))
            check(cell(driver, code, ".zone") == zone, "%s: its zone" % code, cell(driver, code, ".zone"))
        check(cell(driver, "sampler", ".schedule") == "every 2 seconds", "the cron in words",
              cell(driver, "sampler", ".schedule"))
        check(cell(driver, "nightly-report", ".schedule") == "at 02:30 every day", "a daily cron in words",
              cell(driver, "nightly-report", ".schedule"))
        until(driver, lambda: listed_codes(driver)[:2] == ["typo-hour", "zero-division"],
              "the invalid and the failing region come first")
        check("division by zero" in cell(driver, "zero-division", ".why-cell"), "the failure says why",
              cell(driver, "zero-division", ".why-cell"))
        check(cell(driver, "on-hold", ".why-cell") == "paused by ops: vendor maintenance", "the pause says why",
              cell(driver, "on-hold", ".why-cell"))
        check(cell(driver, "retired", ".badge") == "inactive", "an inactive region", cell(driver, "retired", ".badge"))
        until(driver, lambda: "1 live replica" in driver.find_element(By.ID, "summary").text,
              "the replica set: one live replica")
        check(t.replica_id in driver.find_element(By.ID, "replica-rows").text, "the replica's id is listed", None)

        # --- the hostile name is text ---
        check(cell(driver, "hostile", ".name") == HOSTILE, "the hostile name shows its characters",
              cell(driver, "hostile", ".name"))
        check(not driver.find_elements(By.TAG_NAME, "img"), "no <img> element was made from it", None)
        screenshot(driver, shots, "console.png")

        # --- the list comes from the replica a page at a time ---
        counts = lambda: driver.find_element(By.ID, "counts").text
        until(driver, lambda: counts().startswith("%d regions, " % REGIONS), "the count of every region")
        check(all("limit=100" in q and "offset=0" in q for q in list_requests(driver)),
              "the first load asked for the first page only", list_requests(driver))
        check(len(listed_codes(driver)) < 100, "only the rows in view are drawn", len(listed_codes(driver)))
        driver.execute_script("const l = document.getElementById('list'); l.scrollTop = l.scrollHeight;")
        until(driver, lambda: "zz-bulk-%03d" % BULK in listed_codes(driver),
              "scrolled to the end: the last page, fetched when shown")
        check(any("offset=200" in q for q in list_requests(driver)), "the last page was asked for",
              list_requests(driver))
        # The refresh keeps the scroll position and the rows under it.
        driver.execute_script("document.getElementById('list').scrollTop = 155 * 30;")
        until(driver, lambda: "zz-bulk-150" in listed_codes(driver), "the middle of the list")
        shown, top = listed_codes(driver), driver.execute_script("return document.getElementById('list').scrollTop")
        refreshed = driver.find_element(By.ID, "refreshed").text
        until(driver, lambda: driver.find_element(By.ID, "refreshed").text != refreshed, "an automatic refresh")
        until(driver, lambda: "zz-bulk-150" in listed_codes(driver), "the middle of the list, refreshed")
        check(driver.execute_script("return document.getElementById('list').scrollTop") == top,
              "the refresh kept the scroll position", top)
        check(listed_codes(driver) == shown, "the refresh kept the rows in view", listed_codes(driver))

        # --- search by code, on the replica ---
        driver.find_element(By.ID, "search").send_keys("new-year")
        until(driver, lambda: sorted(listed_codes(driver)) == ["new-year-tokyo", "new-year-utc"],
              "the search keeps only the matching codes")
        check(any("q=new-year" in q for q in list_requests(driver)), "the search went to the replica",
              list_requests(driver))
        driver.find_element(By.ID, "search").clear()
        driver.find_element(By.ID, "search").send_keys("BULK-12")  # any case
        until(driver, lambda: counts().startswith("10 of %d regions" % REGIONS), "the search's count")
        until(driver, lambda: listed_codes(driver) == ["zz-bulk-12%d" % i for i in range(10)],
              "the search's regions, in order")
        driver.find_element(By.ID, "search").clear()
        driver.find_element(By.ID, "search").send_keys(" ")  # an input event with no filter
        until(driver, lambda: "sampler" in listed_codes(driver), "an empty search shows every region")
        check(listed_codes(driver)[:2] == ["typo-hour", "zero-division"], "from the top again",
              listed_codes(driver)[:2])

        # --- a region's runs ---
        open_region(driver, "zero-division")
        until(driver, lambda: any(s == "failed" and "division by zero" in e for s, _, e in run_rows(driver)),
              "zero-division's runs: failed, with the error")
        open_region(driver, "sampler")
        until(driver, lambda: len([x for x in run_rows(driver) if x[0] == "ok"]) >= 6, "sampler's ok runs")
        until(driver, lambda: len(driver.find_elements(By.CSS_SELECTOR, "#r-chart rect")) >= 3,
              "the chart draws the recent runs")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#r-next li")) == 5, "its next five fires", None)
        screenshot(driver, shots, "console-region.png")

        # --- run now: a wrong token, then the right one ---
        open_region(driver, "manual")
        driver.find_element(By.ID, "act-trigger").click()
        give_token(driver, "not-the-token")
        until(driver, lambda: action_result(driver)[0] == "error", "the refusal is shown")
        cls, text = action_result(driver)
        check("401" in text and "does not match" in text, "a wrong token: the API's error", text)
        check(r.sql_value("SELECT count(*) FROM run_request WHERE region_id = %s", [manual_id]) == 0,
              "a wrong token requested nothing", None)
        driver.find_element(By.ID, "act-trigger").click()
        give_token(driver, TOKEN)  # the wrong one was forgotten: the page asks again
        until(driver, lambda: action_result(driver)[0] == "ok" and "asking" not in action_result(driver)[1],
              "the request is accepted")
        until(driver, lambda: any(s == "ok" and tr.startswith("manual by console") for s, tr, _ in run_rows(driver)),
              "the manual run appears on the page, ok")
        rows = r.sql("SELECT trigger, status, requested_by FROM job_run WHERE region_id = %s", [manual_id])
        check(len(rows) == 1 and rows[0][0] == "manual" and rows[0][2].startswith("console (api@127.0.0.1"),
              "one manual run, requested by the console", rows)
        check(driver.find_element(By.ID, "r-code").text == "manual", "the refresh kept the open region", None)

        # --- TICKD_API_AUTH=all: the page is public, its data is not ---
        guarded = r.start_tickd("guarded", TICKD_API_TOKEN=TOKEN, TICKD_API_AUTH="all")
        driver.get("http://127.0.0.1:%d/" % guarded.port)  # another origin: no token stored
        until(driver, lambda: "needs the API token" in driver.find_element(By.ID, "banner").text,
              "auth=all: the page says it needs the token")
        check(listed_codes(driver) == [], "auth=all: no region shown without the token", listed_codes(driver))
        give_token(driver, TOKEN)
        until(driver, lambda: "new-year-utc" in listed_codes(driver), "auth=all: with the token, the regions")
        check(not driver.find_element(By.ID, "banner").is_displayed(), "auth=all: the banner is gone", None)

        # --- nothing ran that should not have ---
        dialogs = driver.execute_script("return window.__dialogs")
        violations = driver.execute_script("return window.__csp")
        check(dialogs == [], "no alert, confirm or prompt was opened", dialogs)
        check(violations == [], "CSP violations reported: none", violations)
        errors = [e["message"] for e in driver.get_log("browser")
                  if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
        check(errors == [], "no script error in the browser's console", errors)
        print("CSP violations reported: none; dialogs opened: none")
    finally:
        browser.stop(driver)


rig.main(test)
