"""The pages for people (service/http/pages.py): the rule catalog, a rule's page, the trail viewer and a
case's timeline; how they are protected; and the same pages driven in headless Chromium."""
import html
import os
import re
import shutil
import subprocess
import threading

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from werkzeug.serving import make_server

from service import PROJECT_ROOT
from service.record.models import PageSession
from service.http.keys import create_client, digest
from service.http.refusals import flush_refusals
from service.http.page_sessions import COOKIE as PAGES_COOKIE
from tests.conftest import TEST_KEY, check_body

E1001 = {"id": "E1001", "gender": "female", "birth_date": "1994-05-12", "hire_date": "2021-03-01",
         "region": "CN-BJ", "pregnancy": {"status": "not_pregnant"}, "children": [],
         "medical_treatment": {"status": "none"}}
PREGNANT = {**E1001, "pregnancy": {"status": "pregnant", "confirmed_on": "2026-02-03"}}
CASE_ID = "SEP-2026-001"


def seed(client) -> None:
    """The reversal story in the ledger (four events, then a refused offboarding) and two checks."""
    events = [("k1", "resignation_submitted", "2026-01-05T09:00:00+08:00", "E1001", "employee", "written", E1001),
              ("k2", "resignation_approved", "2026-01-06T10:00:00+08:00", "M3", "manager", None, E1001),
              ("k3", "withdrawal_requested", "2026-01-08T09:00:00+08:00", "E1001", "employee", "verbal", E1001),
              ("k4", "withdrawal_accepted", "2026-01-08T15:00:00+08:00", "M3", "manager", None, E1001),
              ("k5", "offboarding_started", "2026-02-10T10:00:00+08:00", "HR7", "hr", None, PREGNANT)]
    for key, type_, at, actor, role, form, employee in events:
        event = {"type": type_, "at": at, "actor": {"id": actor, "role": role}}
        if form:
            event["form"] = form
        body = {"client_key": key, "employee": employee, "event": event}
        if key == "k1":
            body["case"] = {"kind": "resignation", "hr_owner_id": "HR7", "manager_id": "M3"}
        answer = client.post(f"/v1/cases/{CASE_ID}/events", json=body)
        assert answer.status_code == (409 if key == "k5" else 201), answer.get_json()
    assert client.post("/v1/checks", json=check_body()).status_code == 200  # E1001, pregnant: deny
    other = check_body(employee={"id": "E9", "gender": "male", "medical_treatment": {"status": "none"}})
    assert client.post("/v1/checks", json=other).status_code == 200


def text_of(response) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(body))


def versions(app) -> dict[str, list]:
    by_id: dict[str, list] = {}
    for rule in app.extensions["rulebook"].rules.values():
        by_id.setdefault(rule.id, []).append(rule)
    return by_id


def test_an_unknown_rule_or_case_is_an_html_404(client):
    for path in ("/rules/no-such-rule", "/cases/NO-SUCH-CASE"):
        response = client.get(path)
        assert response.status_code == 404 and response.content_type.startswith("text/html")
        assert "No such page." in text_of(response)


# ---- the trail viewer and a case's timeline ---------------------------------------------------

def _seqs(response) -> list[int]:
    return [int(s) for s in re.findall(r'id="seq-(\d+)"', response.get_data(as_text=True))]


def test_the_trail_page_searches_as_the_api_does(client):
    seed(client)
    for query in ("employee=E1001", "employee=E9", "case_id=SEP-2026-001", "kind=event_refused",
                  "verdict=deny", "rule_id=lcl-42-4.protected-period", "process_type=resignation",
                  "event_type=withdrawal_requested", "actor=M3", "action_type=terminate_with_notice",
                  "kind=ruleset_change", ""):
        page = client.get(f"/trail?{query}")
        api = client.get(f"/v1/trail?{query}").get_json()
        assert page.status_code == 200, query
        assert _seqs(page) == [e["seq"] for e in api["entries"]], query
    e1001 = client.get("/trail?employee=E1001")
    assert len(_seqs(e1001)) == 6
    text = text_of(e1001)
    assert "E9" not in text
    assert "事件被拒 Event refused" in text and "申请撤回辞职 Withdrawal requested" in text
    assert "2026" in text and "M3 经理 Manager" in text
    page = e1001.get_data(as_text=True)
    assert f'href="/cases/{CASE_ID}"' in page
    assert 'href="/rules/lcl-42-4.protected-period"' in page
    assert 'value="E1001"' in page  # the form keeps what was searched


def test_the_trail_page_reads_times_without_an_offset_as_china_time(client):
    seed(client)
    everything = client.get("/v1/trail").get_json()["entries"]
    assert _seqs(client.get("/trail?since=2000-01-01T00:00")) == [e["seq"] for e in everything]
    assert _seqs(client.get("/trail?until=2000-01-01")) == []
    assert _seqs(client.get("/trail?since=2000-01-01T00:00:00%2B08:00&until=2199-01-01T00:00")) == \
        [e["seq"] for e in everything]


def test_the_trail_page_pages_forward(client):
    seed(client)
    all_seqs = [e["seq"] for e in client.get("/v1/trail?limit=500").get_json()["entries"]]
    seen, url = [], "/trail?limit=3"
    while url:
        page = client.get(url)
        seen += _seqs(page)
        found = re.search(r'id="next-page" href="([^"]+)"', page.get_data(as_text=True))
        url = html.unescape(found.group(1)) if found else None
        if url:
            assert "limit=3" in url and "after=" in url
    assert seen == all_seqs


def test_a_bad_trail_search_is_400_naming_the_field_and_reads_nothing(client):
    for query, field in (("since=yesterday", "since"), ("verdict=maybe", "verdict"), ("limit=0", "limit")):
        response = client.get(f"/trail?{query}")
        assert response.status_code == 400
        assert f"{field}:" in text_of(response) and 'id="seq-' not in response.get_data(as_text=True)


def test_a_case_page_shows_events_status_pending_step_and_its_trail(client):
    seed(client)
    response = client.get(f"/cases/{CASE_ID}?as_of=2026-01-09")
    assert response.status_code == 200
    text = text_of(response)
    assert "已撤回辞职 Withdrawn" in text
    api = client.get(f"/v1/cases/{CASE_ID}?as_of=2026-01-09").get_json()
    assert api["pending"]["step"] and api["pending"]["due_on"]
    assert api["pending"]["due_on"] in text and api["pending"]["step_en"] in text
    assert "被拒绝 Refused" in text and "开始离职办理 Offboarding started" in text  # the refused event
    assert text.count("已接受 Accepted") == 4
    assert "书面 Written" in text and "口头 Verbal" in text
    assert _seqs(response) == [e["seq"] for e in client.get(f"/v1/trail?case_id={CASE_ID}").get_json()["entries"]]
    # Later, with nothing waiting and a bad date, it still answers.
    assert client.get(f"/cases/{CASE_ID}?as_of=not-a-date").status_code == 200


def test_a_refused_event_shows_why_with_each_findings_title_message_and_citation(client):
    seed(client)
    refused = client.get(f"/v1/cases/{CASE_ID}").get_json()["events"][4]
    assert refused["accepted"] is False
    page = client.get(f"/cases/{CASE_ID}?as_of=2026-02-10").get_data(as_text=True)
    block = re.search(r'<tr class="refusal" id="event-5-findings">(.*?)</tr>', page, re.S)
    assert block, "no findings row under the refused event"
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", block.group(1))))
    assert "Why it was refused" in text
    # The reason of the README's step 5: Art. 42(4), with its title, message and citation.
    assert "禁止 Deny lcl-42-4.protected-period 孕期、产期、哺乳期女职工不得非过失性解除或终止" in text
    assert "No Art. 40/41 termination or expiry of a female employee" in text
    assert "用人单位不得依照劳动合同法第四十条、第四十一条解除劳动合同" in text and "Going ahead is an unlawful" in text
    assert "LCL-42-4 中华人民共和国劳动合同法（2012年修正） Labor Contract Law of the PRC (2012 amendment) · 第 42 条 Art. 42 · 4" in text
    assert "女职工在孕期、产期、哺乳期的" in text  # the verbatim text, folded
    assert "process.withdrawn-resignation-executed" in text and "POL-SEP-4.1" in text
    assert "A withdrawn resignation cannot be executed" in text
    # Each finding of the refusal, as the API answered it (a repeated client key replays the
    # answer); the accepted events get no such row.
    replay = client.post(f"/v1/cases/{CASE_ID}/events", json={
        "client_key": "k5", "employee": PREGNANT,
        "event": {"type": "offboarding_started", "at": "2026-02-10T10:00:00+08:00", "actor": {"id": "HR7", "role": "hr"}}})
    answered = [f["rule_id"] for f in replay.get_json()["findings"]]
    assert replay.status_code == 409 and len(answered) > 2
    assert re.findall(r'<li class="finding">.*?<code>([^<]+)</code>', block.group(1), re.S) == answered
    assert page.count('class="refusal"') == 1


def test_a_case_page_offers_the_day_of_its_last_event_beside_today(client):
    seed(client)
    with freeze_time("2026-09-01T10:00:00+08:00"):
        today = client.get(f"/cases/{CASE_ID}")
        text = text_of(today)
        page = today.get_data(as_text=True)
        assert "截至 2026-09-01" in text  # today stays the default
        assert "Overdue" in text
        link = re.search(r'<a href="([^"]+)" id="as-of-last-event">', page)
        assert link and html.unescape(link.group(1)) == f"/cases/{CASE_ID}?as_of=2026-02-10"
        assert "最后事件当日 Day of the last event 2026-02-10" in text and "今天 Today 2026-09-01" in text
        then = client.get(html.unescape(link.group(1)))
        assert "截至 2026-02-10" in text_of(then)
        api = client.get(f"/v1/cases/{CASE_ID}?as_of=2026-02-10").get_json()
        assert f"已逾期 Overdue {api['pending']['working_days_late']} 个工作日" in text_of(then)
        assert f"已逾期 Overdue {api['pending']['working_days_late']} 个工作日" not in text


# ---- protection ----------------------------------------------------------------------------

def _anonymous(app):
    client = app.test_client()
    client.environ_base.pop("HTTP_AUTHORIZATION")
    return client


def _key(app, name, *scopes):
    with app.extensions["db_sessions"]() as session, session.begin():
        return create_client(session, name, list(scopes))


def _cookie(client):
    return client.get_cookie(PAGES_COOKIE)


def test_without_a_key_a_page_is_401_with_the_sign_in_form_and_recorded(app, client):
    anonymous = _anonymous(app)
    for path in ("/rules", "/rules/lcl-42-4.protected-period", "/trail?employee=E1001", f"/cases/{CASE_ID}"):
        response = anonymous.get(path)
        assert response.status_code == 401, path
        page = response.get_data(as_text=True)
        assert 'name="key"' in page and 'type="password"' in page and 'id="seq-' not in page
    assert 'name="next" value="/trail?employee=E1001"' in anonymous.get("/trail?employee=E1001").get_data(as_text=True)
    flush_refusals(app, everything=True)  # refusals are counted per address and minute
    [refusals] = client.get("/v1/trail?kind=access_refused").get_json()["entries"]
    assert refusals["body"]["by_route"] == {"GET /rules": 1, "GET /rules/<rule_id>": 1, "GET /trail": 2,
                                            "GET /cases/<case_id>": 1}
    # The stylesheet and the sign-in page itself need no key.
    with anonymous.get("/static/pages.css") as stylesheet:
        assert stylesheet.status_code == 200 and stylesheet.content_type.startswith("text/css")
    assert anonymous.get("/login").status_code == 200


def test_signing_in_sets_a_cookie_the_pages_honour_and_the_api_does_not(app, client):
    seed(client)
    key = _key(app, "auditor", "trail:read")
    browser = _anonymous(app)
    wrong = browser.post("/login", data={"key": "sg_wrong", "next": "/trail"})
    assert wrong.status_code == 401 and "Unknown or revoked key." in text_of(wrong) and _cookie(browser) is None
    signed_in = browser.post("/login", data={"key": key, "next": "/trail?employee=E1001"})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/trail?employee=E1001"
    set_cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Max-Age=28800" in set_cookie
    # The cookie holds a session token, never the key; the database keeps only the token's digest.
    token = _cookie(browser).value
    assert token != key and key not in set_cookie and len(token) >= 40
    with app.extensions["db_sessions"]() as session:
        stored = session.scalars(select(PageSession)).all()
    assert [s.token_digest for s in stored] == [digest(token)]
    assert len(_seqs(browser.get("/trail?employee=E1001"))) == 6
    assert browser.get(f"/cases/{CASE_ID}").status_code == 200
    assert "Sign out" in text_of(browser.get("/rules"))
    # The cookie opens pages only: an API call with it alone is refused.
    assert browser.get("/v1/trail").status_code == 401
    # Revoking the key ends the browser's session at once.
    assert app.test_cli_runner().invoke(args=["keys", "revoke", "auditor"]).exit_code == 0
    assert browser.get("/trail").status_code == 401
    flush_refusals(app, everything=True)
    refused_sign_in = client.get("/v1/trail?kind=access_refused").get_json()["entries"]
    assert any("POST /login" in r["body"]["by_route"] for r in refused_sign_in)


def test_sign_out_clears_the_cookie_and_revokes_the_session(app):
    browser = _anonymous(app)
    browser.post("/login", data={"key": TEST_KEY})
    assert browser.get("/rules").status_code == 200
    stolen = _cookie(browser).value
    out = browser.post("/logout")
    assert out.status_code == 303 and _cookie(browser) is None
    assert browser.get("/rules").status_code == 401
    # A copy of the cookie taken before the sign-out opens nothing: the session is revoked.
    thief = _anonymous(app)
    thief.set_cookie(PAGES_COOKIE, stolen)
    assert thief.get("/rules").status_code == 401


def test_a_sign_in_session_expires(app):
    browser = _anonymous(app)
    with freeze_time("2026-03-02T09:00:00+08:00") as clock:
        browser.post("/login", data={"key": TEST_KEY})
        token = _cookie(browser).value
        # The server decides, whatever the browser keeps: send the token as a cookie that never expires.
        keeper = _anonymous(app)
        keeper.set_cookie(PAGES_COOKIE, token)
        assert keeper.get("/rules").status_code == 200
        clock.tick(8 * 3600 - 60)
        assert keeper.get("/rules").status_code == 200
        clock.tick(120)
        assert keeper.get("/rules").status_code == 401
    flush_refusals(app, everything=True)  # refusals are counted per address and minute
    [refusals] = app.test_client().get("/v1/trail?kind=access_refused").get_json()["entries"]
    assert refusals["body"]["by_reason"] == {"expired, signed-out or revoked page session": 1}


def test_scopes_decide_which_pages_a_key_opens(app):
    checks_only = _key(app, "ehr", "checks")
    browser = _anonymous(app)
    refused = browser.post("/login", data={"key": checks_only})
    assert refused.status_code == 401 and "no scope for the pages" in text_of(refused) and _cookie(browser) is None
    legal = _key(app, "legal", "rules:admin")
    bearer = _anonymous(app)
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {legal}"
    assert bearer.get("/rules").status_code == 200
    assert bearer.get("/rules/lcl-42-4.protected-period").status_code == 200
    forbidden = bearer.get("/trail")
    assert forbidden.status_code == 403 and "trail:read" in text_of(forbidden)
    assert bearer.get(f"/cases/{CASE_ID}").status_code == 403


def test_sign_in_refuses_other_origins_with_that_reason_recorded_and_never_redirects_off_site(app, client):
    browser = _anonymous(app)
    refused = browser.post("/login", data={"key": TEST_KEY}, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and _cookie(browser) is None
    page = text_of(refused)
    assert "posted from another site (https://evil.example)" in page and "scope" not in page
    flush_refusals(app, everything=True)
    [recorded] = client.get("/v1/trail?kind=access_refused").get_json()["entries"]
    assert recorded["body"]["by_route"] == {"POST /login": 1} and recorded["body"]["by_status"] == {"403": 1}
    assert recorded["body"]["by_reason"] == {"sign-in: form posted from another origin (https://evil.example)": 1}
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = browser.post("/login", data={"key": TEST_KEY, "next": target},
                                headers={"Origin": "http://localhost"})
        assert response.status_code == 303 and response.headers["Location"] == "/rules", target


def test_pages_send_no_store_and_a_script_free_policy(client):
    response = client.get("/rules")
    assert response.headers["Cache-Control"] == "no-store"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "script" not in policy
    assert "<script" not in response.get_data(as_text=True)


def test_pages_can_be_switched_off_and_are_off_by_default_in_production(app, client):
    app.config["PAGES_ENABLED"] = False
    assert client.get("/rules").status_code == 404
    assert _anonymous(app).get("/trail").status_code == 404
    assert client.get("/login").status_code == 404
    assert client.get("/v1/trail").status_code == 200  # the API is not the pages
    app.config.pop("PAGES_ENABLED")
    app.config["ENV"] = "production"
    assert client.get("/rules").status_code == 404
    app.config["PAGES_ENABLED"] = True
    assert client.get("/rules").status_code == 200


# ---- in a real browser ---------------------------------------------------------------------

REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
ARTEFACTS = PROJECT_ROOT / "test-results"


def _browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        message = f"headless browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if REQUIRE_BROWSER:
            pytest.fail(f"REQUIRE_BROWSER=1: {message}")
        pytest.skip(message)
    if REQUIRE_BROWSER and not _has_chinese_font():
        pytest.fail("REQUIRE_BROWSER=1: no Chinese font, the screenshot would be unreadable "
                    "(apt-get install fonts-noto-cjk)")
    return chromium, driver


def _has_chinese_font() -> bool:
    try:
        listed = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(listed.strip())


@pytest.fixture
def served(sqlite_app):
    """The app on 127.0.0.1 (a free port) in a thread, seeded."""
    seed(sqlite_app.test_client())
    server = make_server("127.0.0.1", 0, sqlite_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = _browser_binaries()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=zh-CN",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> None:
    """The whole page, as an artefact: test-results/<name>.png."""
    ARTEFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 800), 4000) + 140)
    path = ARTEFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    driver.set_window_size(1400, 1000)


def test_in_headless_chromium_sign_in_browse_the_rules_and_search_the_trail(sqlite_app, served, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    from service.http.catalog_pages import PAGE_SIZE

    wait = WebDriverWait(browser, 30)
    browser.get(f"{served}/rules")
    # Signed out: the sign-in form, which comes back to the catalog.
    wait.until(ready.presence_of_element_located((By.ID, "key"))).send_keys(TEST_KEY)
    browser.find_element(By.ID, "sign-in").click()
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "article.rule")))
    assert browser.current_url == f"{served}/rules"
    assert "规则目录" in browser.find_element(By.TAG_NAME, "h1").text
    # One page of the catalog (a short page, not all the rules at once), and the next by its link.
    assert len(browser.find_elements(By.CSS_SELECTOR, "article.rule")) == PAGE_SIZE < len(versions(sqlite_app))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height < 8000, height   # it was 21,784 px with every rule on one page
    assert browser.find_element(By.ID, "ruleset-version").text.startswith("sha256:")
    _screenshot(browser, "pages-rules")
    browser.find_element(By.CSS_SELECTOR, "#pager-top a.page-next").click()
    wait.until(ready.url_contains("page=2"))
    assert "第 2 /" in browser.find_element(By.ID, "pager-top").text

    # Filtered by verdict and action with the form's selects.
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element(By.ID, "verdict")).select_by_value("deny")
    Select(browser.find_element(By.ID, "action")).select_by_value("terminate_with_notice")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait.until(ready.url_contains("action=terminate_with_notice"))
    expected = {rid for rid, vs in versions(sqlite_app).items()
                if any(v.verdict == "deny" for v in vs) and any("terminate_with_notice" in v.actions for v in vs)}
    shown = {a.get_attribute("id")[len("rule-"):] for a in browser.find_elements(By.CSS_SELECTOR, "article.rule")}
    assert shown and shown <= expected and len(shown) == min(len(expected), PAGE_SIZE)
    browser.find_element(By.ID, "clear").click()
    wait.until(ready.url_to_be(f"{served}/rules"))

    # The catalog's filter, then one rule's page.
    browser.find_element(By.ID, "q").send_keys("哺乳期")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait.until(ready.url_contains("q="))  # the filtered page, not the one the click left
    link = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#rule-lcl-42-4\\.protected-period a.rule-link")))
    link.click()
    wait.until(ready.url_contains("/rules/lcl-42-4.protected-period"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "孕期、产期、哺乳期女职工不得非过失性解除或终止" in body and "Facts it reads" in body
    assert "employee.pregnancy.status" in body
    # Its examples are tables: a field, its name, its value; and what the example expects.
    first = browser.find_element(By.CSS_SELECTOR, ".example table.example-facts")
    assert "怀孕状态 Pregnancy status" in first.text and "预期结论 Expected verdict" in body
    _screenshot(browser, "pages-rule")

    # The trail: search for an employee with the form.
    browser.find_element(By.LINK_TEXT, "审计轨迹 Trail").click()
    search = wait.until(ready.presence_of_element_located((By.ID, "employee")))
    search.send_keys("E1001")
    browser.find_element(By.ID, "search").click()
    wait.until(ready.url_contains("employee=E1001"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.trail tbody tr")
    assert len(rows) == 6
    assert all("E1001" in row.text for row in rows)
    assert any("事件被拒" in row.text and "Event refused" in row.text for row in rows)
    assert "E9" not in browser.find_element(By.CSS_SELECTOR, "table.trail").text
    _screenshot(browser, "pages-trail")

    # From an entry to its case's timeline.
    browser.find_element(By.CSS_SELECTOR, "a.case-link").click()
    wait.until(ready.url_contains(f"/cases/{CASE_ID}"))
    assert "已撤回辞职" in browser.find_element(By.ID, "case-status").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.events tbody tr.refused")) == 1
    _screenshot(browser, "pages-case")


def test_the_trail_viewer_shows_an_entry_in_full_and_the_chain_status(app, client):
    seed(client)
    entries = client.get("/v1/trail?kind=event_refused").get_json()["entries"]
    refused = entries[0]
    page = client.get(f"/trail/{refused['seq']}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'<code id="hash">{refused["hash"]}</code>' in body and refused["prev_hash"] is None  # a leaf, no chain
    assert refused["entry_id"] in body and "process.withdrawn-resignation-executed" in body
    assert "开始离职办理" in body and "Offboarding started" in body  # the event, named in words
    assert client.get("/trail/999999").status_code == 404
    listing = client.get("/trail?kind=event_refused").get_data(as_text=True)
    assert f'href="/trail/{refused["seq"]}"' in listing

    unverified = text_of(client.get("/trail/chain"))  # the page reports the latest, never scans
    assert "Not verified yet" in unverified and "broken" not in unverified
    assert app.test_cli_runner().invoke(args=["trail", "verify"]).exit_code == 0
    chain = client.get("/trail/chain")
    assert chain.status_code == 200 and "every link holds" in text_of(chain)
    # Tamper with an entry: the next verification names it, and the chain page shows it.
    from service.record.models import TrailEntry
    with app.extensions["db_sessions"]() as session, session.begin():
        session.get(TrailEntry, refused["seq"]).verdict = "allow"
    assert app.test_cli_runner().invoke(args=["trail", "verify"]).exit_code == 1
    broken = text_of(client.get("/trail/chain"))
    assert "The chain is broken" in broken and f"entry {refused['seq']} was altered" in broken
    # Both need trail:read, like the trail itself.
    legal = _key(app, "legal-2", "rules:admin")
    bearer = _anonymous(app)
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {legal}"
    assert bearer.get(f"/trail/{refused['seq']}").status_code == 403
    assert bearer.get("/trail/chain").status_code == 403


def test_a_decision_entry_reads_as_a_decision_and_its_stored_form_is_one_click_away(app, client):
    seed(client)
    check = client.get("/v1/trail?kind=check&employee=E1001").get_json()["entries"][0]
    decision = client.get(f"/v1/decisions/{check['entry_id']}").get_json()
    assert decision["verdict"] == "deny"
    page = client.get(f"/trail/{check['seq']}")
    assert page.status_code == 200
    markup, text = page.get_data(as_text=True), text_of(page)
    assert f'href="/v1/decisions/{check["entry_id"]}"' in markup
    assert 'href="/trail/%d/stored"' % check["seq"] in markup
    for finding in decision["findings"]:
        assert f'id="finding-{finding["rule_id"]}"' in markup
        assert finding["title"]["zh"] in text and finding["title"]["en"] in text
        for name in finding["facts"]:
            assert f"<code>{name}</code>" in markup
    protected = next(f for f in decision["findings"] if f["rule_id"] == "lcl-42-4.protected-period")
    assert protected["facts"]["employee.pregnancy.status"] == "[sensitive]"
    row = re.search(r"<code>employee\.pregnancy\.status</code></td><td>(.*?)</td>", markup).group(1)
    assert "已隐去" in row and "Withheld" in row and "[sensitive]" not in row
    # Not the stored form: no facts by index, no matched positions.
    assert '"matched"' not in markup and "[sensitive]" not in text
    stored = client.get(f"/trail/{check['seq']}/stored")
    assert stored.status_code == 200
    raw = text_of(stored)
    assert '"matched"' in raw and '"[sensitive]"' in raw and check["hash"] in raw
    assert client.get("/trail/999999/stored").status_code == 404
    # A rule-set change is no decision: its body is shown as it is.
    change = client.get("/v1/trail?kind=ruleset_change").get_json()["entries"][0]
    assert '"previous_version"' in text_of(client.get(f"/trail/{change['seq']}"))
    # The stored form needs trail:read, like the entry.
    bearer = _anonymous(app)
    bearer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {_key(app, 'legal-3', 'rules:admin')}"
    assert bearer.get(f"/trail/{check['seq']}/stored").status_code == 403
