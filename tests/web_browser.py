#!/usr/bin/python3
"""web_browser: drives msgspool-web in headless Chromium (Debian's chromium
and chromium-driver, python3-selenium) the way an admin does: log in,
filter, search, select two failed receivers and resend them, read a 451
transcript, see only the hold or release that applies, open a receiver by
an id prefix, try a POST without the CSRF token, and check that hostile
subjects and bodies run nothing. Prints "ok - ..." / "FAIL - ..." lines
for tests/web-browser.sh; screenshots go to --out."""
import argparse
import json
import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

FAILED = 0


def check(name, cond, detail=""):
    global FAILED
    if cond:
        print("ok - " + name)
    else:
        FAILED += 1
        print("FAIL - %s %s" % (name, detail))
    sys.stdout.flush()


def browser(profile):
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1600,1000", "--user-data-dir=" + profile]:
        o.add_argument(flag)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def click(d, el):
    """Clicks something that loads a page and waits for that page."""
    old = d.current_url
    el.click()
    WebDriverWait(d, 30).until(lambda d: d.current_url != old and
                               d.execute_script("return document.readyState") == "complete")


def no_alert(d):
    try:
        d.switch_to.alert.dismiss()
        return False
    except NoAlertPresentException:
        return True


def injected_logs(d):
    return [e["message"] for e in d.get_log("browser") if "INJECTED" in e["message"]]


def rows(d):
    return [r.find_element(By.CSS_SELECTOR, "input[name=id]").get_attribute("value")
            for r in d.find_elements(By.CSS_SELECTOR, "tbody tr")]


def login(d, base, user, password):
    d.get(base + "/receivers")
    check("no login: the browser lands on the login page", d.current_url == base + "/login", d.current_url)
    d.find_element(By.ID, "username").send_keys(user)
    d.find_element(By.ID, "password").send_keys(password)
    click(d, d.find_element(By.CSS_SELECTOR, "form.login button"))
    check("login: the dashboard", d.find_element(By.TAG_NAME, "h1").text == "Dashboard", d.page_source[:300])


def sidebar_click(d, heading, label):
    for h in d.find_elements(By.CSS_SELECTOR, "aside h3"):
        if h.text.lower() == heading.lower():
            ul = h.find_element(By.XPATH, "following-sibling::ul[1]")
            click(d, ul.find_element(By.LINK_TEXT, label))
            return
    raise AssertionError("no sidebar choice %s / %s" % (heading, label))


def sidebar_labels(d, heading):
    for h in d.find_elements(By.CSS_SELECTOR, "aside h3"):
        if h.text.lower() == heading.lower():
            return [a.text for a in h.find_elements(By.XPATH, "following-sibling::ul[1]/li/a")]
    return []


def filters(d, base, ids):
    d.get(base + "/receivers")
    types = sidebar_labels(d, "By type")[1:]
    check("the sidebar's types are in order of their names", len(types) > 2 and types == sorted(types), str(types))
    sidebar_click(d, "By status", "failed")
    got = set(rows(d))
    check("filter status failed: exactly the failed ones", got == set(ids["failed_all"]), str(got))
    check("filter status failed: marked active",
          "failed" in d.find_element(By.CSS_SELECTOR, "aside li.on").text)
    d.find_element(By.ID, "select-all").click()
    boxes = d.find_elements(By.CSS_SELECTOR, "input[name=id]")
    check("select all (the one script, under the CSP)", boxes and all(b.is_selected() for b in boxes))
    d.find_element(By.ID, "select-all").click()
    check("select all, undone", not any(b.is_selected() for b in boxes))
    sidebar_click(d, "By status", "All")
    sidebar_click(d, "By sent datetime", "Today")
    got = set(rows(d))
    check("filter sent today: exactly the sent ones", got == set(ids["sent_today"]), str(got))
    sidebar_click(d, "By sent datetime", "Any date")
    box = d.find_element(By.CSS_SELECTOR, "input[name=q]")
    box.send_keys("searchme")
    click(d, d.find_element(By.XPATH, "//button[text()='Search']"))
    check("search: one match", rows(d) == [ids["search"]], str(rows(d)))


def resend_two(d, base, ids, shots):
    d.get(base + "/receivers?status=failed")
    two = ids["resend"]
    for cb in d.find_elements(By.CSS_SELECTOR, "input[name=id]"):
        if cb.get_attribute("value") in two:
            cb.click()
    d.save_screenshot(os.path.join(shots, "list.png"))
    click(d, d.find_element(By.XPATH, "//button[text()='Send message to selected receivers']"))
    msg = d.find_element(By.CSS_SELECTOR, "p.msg").text
    check("resend: the page says 2 sent", msg == "2 sent, 0 failed, 0 moved to error.", msg)
    d.get(base + "/receivers?status=sent")
    got = set(rows(d))
    check("resend: both are now sent", set(two) <= got, str(got))


def detail_451(d, base, ids, shots):
    d.get(base + "/receivers?status=failed")
    click(d, d.find_element(By.LINK_TEXT, ids["f451"]))
    tr = " ".join(p.text for p in d.find_elements(By.CSS_SELECTOR, "pre.tr"))
    check("detail: the 451 transcript", "451 4.3.0" in tr and "MAIL FROM" in tr, tr[:300])
    check("detail of a failed receiver: Hold, not Release", buttons(d) & {"Hold", "Release"} == {"Hold"},
          str(buttons(d)))
    d.save_screenshot(os.path.join(shots, "detail.png"))


def buttons(d):
    return {b.text for b in d.find_elements(By.CSS_SELECTOR, "form.bar button")}


def prefixes(d, base, ids, shots):
    whole = ids["f451"]
    d.get(base + "/receivers/" + whole[:-1])
    check("a unique id prefix opens the whole id's page", d.current_url == base + "/receivers/" + whole,
          d.current_url)
    d.get(base + "/receivers/" + ids["prefix"])
    links = [a.text for a in d.find_elements(By.CSS_SELECTOR, "ul.candidates a")]
    check("an ambiguous prefix lists the candidates", set(ids["prefixed"]) <= set(links), str(links))
    d.save_screenshot(os.path.join(shots, "prefix.png"))
    click(d, d.find_element(By.LINK_TEXT, ids["prefixed"][0]))
    check("a candidate's link opens its page", d.current_url == base + "/receivers/" + ids["prefixed"][0],
          d.current_url)


def post_without_token(d, base, ids, spool):
    target = ids["f451"]
    d.get(base + "/receivers?status=failed")
    d.execute_script("document.querySelectorAll('input[name=csrf]').forEach(function(e){e.remove();});")
    for cb in d.find_elements(By.CSS_SELECTOR, "input[name=id]"):
        if cb.get_attribute("value") == target:
            cb.click()
    click(d, d.find_element(By.XPATH, "//button[text()='Send message to selected receivers']"))
    check("POST without the token: 403", d.find_element(By.TAG_NAME, "h1").text == "Error 403",
          d.find_element(By.TAG_NAME, "h1").text)
    check("POST without the token: still failed", os.path.exists(os.path.join(spool, "failed", target + ".yaml")))


def hold_release(d, base, ids, spool, shots):
    target = ids["search"]
    for action, src, dst, done in (("Hold", "new", "hold", "Held 1 message receiver."),
                                   ("Release", "hold", "new", "Released 1 message receiver.")):
        d.get(base + ("/receivers?q=searchme" if src == "new" else "/receivers?status=held"))
        for cb in d.find_elements(By.CSS_SELECTOR, "input[name=id]"):
            if cb.get_attribute("value") == target:
                cb.click()
        click(d, d.find_element(By.XPATH, "//button[text()='%s selected receivers']" % action))
        msg = d.find_element(By.CSS_SELECTOR, "p.msg").text
        check("%s: the page says so" % action.lower(), msg == done, msg)
        check("%s: the file is in %s/" % (action.lower(), dst), os.path.exists(os.path.join(spool, dst, target + ".yaml")))
        if action == "Hold":
            d.get(base + "/receivers?status=held")
            check("hold: the held filter lists it", rows(d) == [target], str(rows(d)))
            d.save_screenshot(os.path.join(shots, "held.png"))
            d.get(base + "/receivers/" + target)
            check("detail of a held receiver: Release, not Hold", buttons(d) & {"Hold", "Release"} == {"Release"},
                  str(buttons(d)))


def hostile(d, base, ids):
    d.get(base + "/receivers?q=hostile")
    cell = d.find_element(By.CSS_SELECTOR, "td.subj").text
    check("hostile subject shown as text", "<script>" in cell and "onerror" in cell, cell)
    click(d, d.find_element(By.LINK_TEXT, ids["hostile"]))
    time.sleep(0.5)
    check("hostile: the html body is in a sandboxed iframe",
          d.find_element(By.TAG_NAME, "iframe").get_attribute("sandbox") == "")
    check("hostile: no img element injected", not d.find_elements(By.CSS_SELECTOR, "main img"))
    check("hostile: no alert", no_alert(d))
    check("hostile: no script ran", injected_logs(d) == [], str(injected_logs(d)))
    check("hostile: the title is untouched", "msgspool" in d.title, d.title)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--ids", required=True,
                    help="JSON file: failed_all, sent_today, resend, f451, search, hostile, prefix, prefixed")
    ap.add_argument("--spool", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ids = json.load(open(a.ids))
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        d = browser(profile)
        try:
            login(d, a.url, a.user, a.password)
            filters(d, a.url, ids)
            hostile(d, a.url, ids)
            resend_two(d, a.url, ids, a.out)
            detail_451(d, a.url, ids, a.out)
            post_without_token(d, a.url, ids, a.spool)
            prefixes(d, a.url, ids, a.out)
            hold_release(d, a.url, ids, a.spool, a.out)
            d.get(a.url + "/")
            d.save_screenshot(os.path.join(a.out, "dashboard.png"))
            check("no alert anywhere", no_alert(d))
            check("no injected script logged anywhere", injected_logs(d) == [], str(injected_logs(d)))
        finally:
            d.quit()
    print("%d failed" % FAILED)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
