"""Console login, roles, sessions, logout and CSRF, in headless Chromium against the real server."""
from __future__ import annotations

import re

from tests.console.conftest import login, new_page
from tests.console.console_stack import NOODLE, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from server.keys import SETTINGS, STORAGE


async def _session_count(stack) -> int:
    return (await stack.app[STORAGE].table_counts(["console_sessions"]))["console_sessions"]


async def test_operator_logs_in_and_sees_every_page_link(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    assert page.url.endswith("/console/orders")
    header = await page.inner_text("header")
    assert "ops" in header and "运营人员" in header
    nav = [await a.inner_text() for a in await page.query_selector_all("header nav.wide a")]
    assert nav == ["今天", "订单", "设备", "监控", "固件升级", "对账", "对账单", "收银", "商户", "库存", "收款码", "用户", "操作日志"]
    # Everyone's orders.
    shown = await page.inner_text("table[data-testid=orders]")
    assert "T1001" in shown and "N2001" in shown


async def test_merchant_logs_in_and_sees_its_own_orders_only(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    header = await page.inner_text("header")
    assert "tea" in header and "商户" in header and TEA_SHOP.merchant_id in header
    nav = [await a.inner_text() for a in await page.query_selector_all("header nav.wide a")]
    assert "固件升级" not in nav and "订单" in nav
    shown = await page.inner_text("table[data-testid=orders]")
    assert all(no in shown for no in ("T1001", "T1002", "T1003"))
    assert "N2001" not in shown and "N2002" not in shown


async def test_wrong_password_is_refused(stack, page):
    await page.goto("/console/login")
    await page.fill("input[name=username]", TEA)
    await page.fill("input[name=password]", PASSWORDS[NOODLE])   # another user's password
    async with page.expect_navigation():
        await page.click("form button[type=submit]")
    assert "/console/login" in page.url
    assert "用户名或密码错误" in await page.inner_text("[role=alert]")
    assert await _session_count(stack) == 0
    # Not logged in: the orders page sends the browser back to the login form.
    await page.goto("/console/orders")
    assert "/console/login" in page.url
    # An unknown user gets the same answer as a wrong password.
    await page.fill("input[name=username]", "nobody")
    await page.fill("input[name=password]", "whatever-password")
    async with page.expect_navigation():
        await page.click("form button[type=submit]")
    assert "用户名或密码错误" in await page.inner_text("[role=alert]")


async def test_too_many_wrong_passwords_lock_the_user_out(stack, page):
    for _ in range(stack.app[SETTINGS].console.max_failed_logins):
        await login(page, TEA, "not-the-password")
        assert "用户名或密码错误" in await page.inner_text("[role=alert]")
    # Now even the right password is refused for a while.
    await login(page, TEA, PASSWORDS[TEA])
    assert "/console/login" in page.url
    assert "锁定" in await page.inner_text("[role=alert]")
    assert await _session_count(stack) == 0
    # Another user is not affected.
    await login(page, NOODLE, PASSWORDS[NOODLE])
    assert page.url.endswith("/console/orders")


async def test_login_returns_to_the_page_asked_for_and_never_to_another_site(stack, page):
    await page.goto("/console/orders?status=SUCCESS&channel=alipay")
    assert "/console/login?next=" in page.url
    await page.fill("input[name=username]", OPERATOR)
    await page.fill("input[name=password]", PASSWORDS[OPERATOR])
    async with page.expect_navigation():
        await page.click("form button[type=submit]")
    assert page.url.endswith("/console/orders?status=SUCCESS&channel=alipay")
    assert await page.input_value("select[name=channel]") == "alipay"

    other = await new_page(page.context.browser, stack)
    await other.goto("/console/login?next=https://evil.example/phish")
    await other.fill("input[name=username]", OPERATOR)
    await other.fill("input[name=password]", PASSWORDS[OPERATOR])
    async with other.expect_navigation():
        await other.click("form button[type=submit]")
    assert other.url == stack.url + "/console/orders"
    await other.context.close()


async def test_session_cookie_is_httponly_and_samesite(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["scanpay_console"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/console"
    # Scripts in the page cannot read it.
    assert "scanpay_console=" not in await page.evaluate("document.cookie")


async def test_logout_ends_the_session_on_the_server(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    token = next(c["value"] for c in await page.context.cookies() if c["name"] == "scanpay_console")
    assert await _session_count(stack) == 1
    async with page.expect_navigation():
        await page.click("header button:has-text('退出登录')")
    assert "/console/login" in page.url
    assert await _session_count(stack) == 0
    await page.goto("/console/orders")
    assert "/console/login" in page.url
    # A copy of the old cookie is worth nothing now.
    async with stack.http.get(stack.url + "/console/orders", cookies={"scanpay_console": token},
                              allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"].startswith("/console/login")


async def test_two_users_in_two_browsers_keep_their_own_sessions(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    other = await new_page(page.context.browser, stack)
    await login(other, NOODLE, PASSWORDS[NOODLE])
    await page.reload()
    assert "tea" in await page.inner_text("[data-testid=console-user]")
    assert "noodle" in await other.inner_text("[data-testid=console-user]")
    await other.context.close()


async def _csrf_token(page) -> str:
    return await page.get_attribute("header input[name=csrf_token]", "value")


async def test_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    token = await _csrf_token(page)
    # Logout without the token: refused, the session lives on.
    for form in ({}, {"csrf_token": "x" * len(token)}, {"csrf_token": ""}):
        resp = await page.request.post(stack.url + "/console/logout", form=form, max_redirects=0)
        assert resp.status == 403
        assert "请求被拒绝" in await resp.text()
    assert await _session_count(stack) == 1
    # Another session's token does not do either.
    other = await new_page(page.context.browser, stack)
    await login(other, TEA, PASSWORDS[TEA])
    other_token = await _csrf_token(other)
    assert other_token != token
    resp = await page.request.post(stack.url + "/console/logout", form={"csrf_token": other_token}, max_redirects=0)
    assert resp.status == 403
    # A header token works as well as the form field, the right one only.
    resp = await page.request.post(stack.url + "/console/logout", headers={"X-CSRF-Token": "wrong"},
                                   max_redirects=0)
    assert resp.status == 403
    assert await _session_count(stack) == 2
    resp = await page.request.post(stack.url + "/console/logout", headers={"X-CSRF-Token": token}, max_redirects=0)
    assert resp.status == 303
    assert await _session_count(stack) == 1
    await other.context.close()


async def test_a_refused_csrf_post_shows_a_page_that_says_why(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    # A form on a page of some other site, posting into the console with the user's cookie.
    await page.set_content(f"""<form method="post" action="{stack.url}/console/logout">
        <button type="submit">win a prize</button></form>""")
    async with page.expect_navigation():
        await page.click("button")
    assert "请求被拒绝" in await page.inner_text("h1")
    assert "没有做任何更改" in await page.inner_text("[role=alert]")
    assert await _session_count(stack) == 1


async def test_login_form_needs_its_double_submit_token(stack, page):
    # A login posted from elsewhere (login CSRF: logging the victim in as the attacker) is refused.
    async with stack.http.post(stack.url + "/console/login", allow_redirects=False,
                               data={"username": TEA, "password": PASSWORDS[TEA], "csrf_token": "forged"}) as resp:
        assert resp.status == 403
    async with stack.http.post(stack.url + "/console/login", allow_redirects=False,
                               cookies={"scanpay_console_login": "a" * 43},
                               data={"username": TEA, "password": PASSWORDS[TEA], "csrf_token": "b" * 43}) as resp:
        assert resp.status == 403
    assert await _session_count(stack) == 0
    # Cookie and field equal (what our own form sends): accepted.
    async with stack.http.post(stack.url + "/console/login", allow_redirects=False,
                               cookies={"scanpay_console_login": "a" * 43},
                               data={"username": TEA, "password": PASSWORDS[TEA], "csrf_token": "a" * 43}) as resp:
        assert resp.status == 303
        assert "scanpay_console" in resp.cookies
    assert await _session_count(stack) == 1


async def test_console_pages_refuse_framing_and_inline_scripts(stack, page):
    response = await page.goto("/console/login")
    headers = response.headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert re.search(r"script-src 'self'(;|$)", headers["content-security-policy"])


async def test_an_expired_session_sends_the_user_to_login(tmp_path, browser):
    from tests.console.console_stack import running_stack
    async with running_stack(tmp_path, console={"session_ttl_s": 1}, pay_orders=False) as stack:
        context = await browser.new_context(base_url=stack.url)
        page = await context.new_page()
        await login(page, TEA, PASSWORDS[TEA])
        assert page.url.endswith("/console/orders")
        # Age the session in the database instead of waiting for it.
        await stack.storage.sql.execute("UPDATE console_sessions SET expires_at = 0")
        await page.goto("/console/orders")
        assert "/console/login" in page.url
        await context.close()


async def test_operator_only_pages_answer_403_to_a_merchant(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    response = await page.goto("/console/rollouts")
    assert response.status == 403
    assert "仅限运营人员" in await page.inner_text("[role=alert]")
    # Still logged in, on a page of the console's layout.
    assert "tea" in await page.inner_text("[data-testid=console-user]")
    operator = await new_page(page.context.browser, stack)
    await login(operator, OPERATOR, PASSWORDS[OPERATOR])
    assert (await operator.goto("/console/rollouts")).status == 200
    await operator.context.close()


async def test_unknown_console_pages_are_html_not_found_pages(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    response = await page.goto("/console/no-such-page")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    assert "未找到" in await page.inner_text("h1")


async def test_logging_out_of_an_expired_session_just_shows_the_login_form(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    await stack.storage.sql.execute("DELETE FROM console_sessions")   # expired meanwhile (or logged out elsewhere)
    async with page.expect_navigation():
        await page.click("header button:has-text('退出登录')")
    assert "/console/login" in page.url and await page.query_selector("input[name=password]")
