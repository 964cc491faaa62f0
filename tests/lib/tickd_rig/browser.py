"""Headless Chromium driven by Selenium, for the console's test (tests/console) and its
benchmark (bench/console_load.py). Debian's chromium, chromium-driver and python3-selenium
(scripts/lib/packages.txt); /usr/bin/python3 has the module.

Every page the browser opens gets HOOKS before its own scripts: window.__dialogs records any
alert/confirm/prompt a script opens (none is shown), window.__csp every Content-Security-Policy
violation the browser reports."""
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

HOOKS = """
window.__dialogs = [];
for (const name of ['alert', 'confirm', 'prompt']) {
  window[name] = function (message) { window.__dialogs.push(name + ': ' + String(message)); return null; };
}
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber);
}, true);
"""


def start(width=1500, height=1000):
    """A headless Chromium (no sandbox: tests run as root) with HOOKS on every page and its
    console log kept for get_log('browser')."""
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--window-size=%d,%d" % (width, height)):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOKS})
    return driver


def stop(driver):
    """Quits Chromium and waits for chromedriver itself to exit (no zombies left behind)."""
    process = driver.service.process
    driver.quit()
    if process is not None:
        try:
            process.wait(10)
        except Exception:  # noqa: BLE001 -- already reaped
            pass
