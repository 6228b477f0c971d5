"""The login lock-out holds when guesses arrive all at once, refusals all look alike, the typed name is never
logged, and a `next` with CR/LF is ignored; over real HTTP, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import logging
import re

import pytest
from yarl import URL

from tests.console.console_stack import NOODLE, OPERATOR, PASSWORDS, TEA, running_stack
from server.console import auth, i18n, queries
from server.keys import STORAGE

MAX_FAILED = 5
LOGIN_CSRF = "a" * 43      # the login form's double-submit token: the same in the cookie and the field


@pytest.fixture
async def stack(tmp_path, console_database):
    # No per-address throttle here (every request comes from 127.0.0.1): the lock-out alone is under test.
    async with running_stack(tmp_path, database=console_database, pay_orders=False, resolver=False,
                             console={"max_failed_logins": MAX_FAILED, "lockout_s": 300},
                             throttle={"enabled": False}) as stack:
        yield stack


@pytest.fixture
def password_checks(monkeypatch) -> dict[str, int]:
    """How often scrypt ran, per stored hash checked: a real user's hash, or the dummy one."""
    checks = {"real": 0, "dummy": 0}
    verify = auth.verify_password

    def counting(password: str, stored: str) -> bool:
        checks["dummy" if stored == auth._NOBODY else "real"] += 1
        return verify(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting)
    return checks


async def post_login(stack, username: str, password: str, next_page: str = ""):
    """The login form as a browser posts it; status, page and the response (no redirect followed)."""
    async with stack.http.post(stack.url + "/console/login", allow_redirects=False,
                               headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={LOGIN_CSRF}"},
                               data={"csrf_token": LOGIN_CSRF, "username": username, "password": password,
                                     "next": next_page}) as resp:
        return resp.status, await resp.text(), resp


def alert_of(page: str) -> str:
    found = re.search(r'<p class="flash error" role="alert">(.*?)</p>', page, re.S)
    assert found, page
    return found.group(1)


# The one answer to every refused login, as the page shows it (Chinese, the console's default).
REFUSED_ZH = i18n.read_catalog("zh_CN").get(auth.REFUSED).string


async def failed_logins(stack, username: str) -> int:
    return (await stack.app[STORAGE].console_user_by_name(username)).failed_logins


async def sessions(stack) -> int:
    return (await stack.app[STORAGE].table_counts(["console_sessions"]))["console_sessions"]


async def test_forty_guesses_at_once_check_at_most_the_allowed_passwords_then_the_right_one_is_refused(
        stack, password_checks):
    answers = await asyncio.gather(*(post_login(stack, TEA, f"guess-number-{i}") for i in range(40)))
    assert [status for status, _, _ in answers] == [401] * 40
    assert {alert_of(page) for _, page, _ in answers} == {REFUSED_ZH}
    # Only MAX_FAILED guesses were ever compared with the user's hash; the rest were refused unchecked.
    assert password_checks["real"] <= MAX_FAILED
    assert await failed_logins(stack, TEA) <= MAX_FAILED
    # Locked: the right password is refused too, and nobody got a session.
    status, page, _ = await post_login(stack, TEA, PASSWORDS[TEA])
    assert (status, alert_of(page)) == (401, REFUSED_ZH)
    assert password_checks["real"] <= MAX_FAILED
    assert await sessions(stack) == 0
    # Another user is not affected.
    status, _, resp = await post_login(stack, NOODLE, PASSWORDS[NOODLE])
    assert status == 303 and resp.headers["Location"] == "/console/orders"


async def test_unknown_wrong_disabled_and_locked_users_get_the_same_answer(stack, password_checks):
    assert await stack.app[STORAGE].set_console_user_disabled(NOODLE, True)
    for _ in range(MAX_FAILED):
        await post_login(stack, OPERATOR, "not-the-password")
    checks_before = dict(password_checks)
    answers = {
        "unknown user": await post_login(stack, "nobody-here", "whatever-password"),
        "wrong password": await post_login(stack, TEA, "not-the-password"),
        "disabled user": await post_login(stack, NOODLE, PASSWORDS[NOODLE]),
        "locked user": await post_login(stack, OPERATOR, PASSWORDS[OPERATOR]),
    }
    shown = {case: (status, resp.headers["Content-Type"], alert_of(page))
             for case, (status, page, resp) in answers.items()}
    assert set(shown.values()) == {(401, "text/html; charset=utf-8", REFUSED_ZH)}, shown
    # Each ran scrypt once (against a hash nobody matches when there was no password to check): alike in time.
    ran = sum(password_checks.values()) - sum(checks_before.values())
    assert ran == 4
    assert await sessions(stack) == 0


async def test_a_password_typed_as_the_user_name_is_not_logged(stack, caplog):
    caplog.set_level(logging.INFO, logger="server")
    typed = "Tr0ub4dor&3-typed-in-the-wrong-field"
    status, page, _ = await post_login(stack, typed, "")
    assert status == 401
    assert typed not in caplog.text
    assert "unknown user name" in caplog.text
    # A known user is named in the log, with why it was refused.
    await post_login(stack, TEA, "not-the-password")
    assert "console login refused: tea (wrong password)" in caplog.text


@pytest.mark.parametrize("injected", ["/console/orders%0d%0aSet-Cookie:%20x=1", "/console/orders%0aX-Evil:%201",
                                      "/console/orders%7f"])
async def test_a_next_page_with_control_characters_is_ignored(stack, injected):
    login_url = URL(f"{stack.url}/console/login?next={injected}", encoded=True)
    # The form: a normal page whose hidden `next` is the default.
    async with stack.http.get(login_url) as resp:
        assert resp.status == 200
        page = await resp.text()
        assert 'name="next" value="/console/orders"' in page
        assert "x" not in resp.cookies and "X-Evil" not in resp.headers
    # Logging in with it goes to the default page, with no injected header.
    next_page = URL(f"/?next={injected}", encoded=True).query["next"]
    assert "/console/orders" in next_page and next_page != "/console/orders"
    status, _, resp = await post_login(stack, TEA, PASSWORDS[TEA], next_page=next_page)
    assert status == 303 and resp.headers["Location"] == "/console/orders"
    assert "X-Evil" not in resp.headers and not any("x=1" in c for c in resp.headers.getall("Set-Cookie", []))
    # Logged in already: the form redirects to the default page as well.
    session = resp.cookies[auth.SESSION_COOKIE].value
    async with stack.http.get(login_url, allow_redirects=False,
                              headers={"Cookie": f"{auth.SESSION_COOKIE}={session}"}) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/console/orders"


async def test_a_refused_login_keeps_where_it_was_going(stack):
    status, page, _ = await post_login(stack, TEA, "not-the-password", next_page="/console/devices")
    assert status == 401 and 'name="next" value="/console/devices"' in page
    status, _, resp = await post_login(stack, TEA, PASSWORDS[TEA], next_page="/console/devices")
    assert status == 303 and resp.headers["Location"] == "/console/devices"
