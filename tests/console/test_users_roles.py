"""People and roles in the console (docs/console.md, "Users and roles"): operators manage users, an owner its
staff; a cashier takes payments and sees today's orders and nothing else; a refund by a merchant user asks for
the merchant's refund password and locks after too many wrong ones; the audit log shows who did what."""
from __future__ import annotations

import re

from tests.console.conftest import login, new_page
from tests.console.console_stack import NOODLE, OPERATOR, PASSWORDS, REFUND_PASSWORDS, TEA, TEA_SHOP, add_console_user
from hw_sim import test_codes
from server.console import auth, queries

_LOGIN_CSRF = "l" * 43


async def session(stack, username: str, password: str) -> dict[str, str]:
    """Log in over plain HTTP: the headers of a request in that session (cookie and CSRF token)."""
    async with stack.http.post(stack.url + "/console/login", allow_redirects=False,
                               headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={_LOGIN_CSRF}"},
                               data={"csrf_token": _LOGIN_CSRF, "username": username, "password": password}) as resp:
        assert resp.status == 303, username
        cookie = f"{auth.SESSION_COOKIE}={resp.cookies[auth.SESSION_COOKIE].value}"
    async with stack.http.get(stack.url + "/console/orders", headers={"Cookie": cookie}) as resp:
        text = await resp.text()
    return {"Cookie": cookie, auth.CSRF_HEADER: re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)}


async def get(stack, headers, path: str) -> tuple[int, str]:
    async with stack.http.get(stack.url + path, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def post(stack, headers, path: str, form: dict) -> tuple[int, str]:
    async with stack.http.post(stack.url + path, headers=headers, data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def test_operator_makes_an_owner_who_makes_a_cashier_who_only_takes_payments(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await page.goto("/console/users")
    form = page.locator("[data-testid=new-user]")
    await form.locator("input[name=username]").fill("wang-owner")
    await form.locator("input[name=password]").fill("owner-password-1")
    await form.locator("select[name=kind]").select_option("owner")
    await form.locator("select[name=merchant_id]").select_option(TEA_SHOP.merchant_id)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    row = page.locator("tr[data-username=wang-owner]")
    assert await row.locator("[data-position]").inner_text() == "老板"

    owner = await new_page(page.context.browser, stack)
    try:
        await login(owner, "wang-owner", "owner-password-1")
        nav = [await a.inner_text() for a in await owner.query_selector_all("header nav.wide a")]
        assert "员工" in nav and "退款密码" in nav and "操作日志" in nav
        await owner.goto("/console/users")
        # Only its own merchant's people, and it makes staff, not owners.
        names = [await r.get_attribute("data-username") for r in await owner.query_selector_all("tr[data-username]")]
        assert sorted(names) == sorted([TEA, "wang-owner"])
        staff_form = owner.locator("[data-testid=new-user]")
        assert await staff_form.locator("select[name=kind] option").all_inner_texts() == ["店长", "收银员"]
        await staff_form.locator("input[name=username]").fill("xiao-cashier")
        await staff_form.locator("input[name=password]").fill("cashier-password")
        await staff_form.locator("select[name=kind]").select_option("cashier")
        async with owner.expect_navigation():
            await staff_form.locator("button[type=submit]").click()
        assert await owner.locator("tr[data-username=xiao-cashier] [data-position]").inner_text() == "收银员"
    finally:
        await owner.context.close()

    cashier = await new_page(page.context.browser, stack)
    try:
        await login(cashier, "xiao-cashier", "cashier-password")
        await cashier.goto("/console/")
        assert cashier.url.endswith("/console/cashier")
        nav = [await a.inner_text() for a in await cashier.query_selector_all("header nav.wide a")]
        assert nav == ["订单", "收银"]
        # A payment on the cashier page.
        status, body = await cashier.evaluate("""async ([device, code]) => {
            const csrf = document.getElementById("cashier").dataset.csrf;
            const resp = await fetch("/console/cashier/pay", {method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                body: JSON.stringify({device_id: device, amount: "6.60", auth_code: code, order_no: "CSCASHIER1"})});
            return [resp.status, await resp.json()];
        }""", [TEA_SHOP.device_id, test_codes.make_wechat_code(test_codes.SUCCESS)])
        assert status == 200 and body["order"]["status"] in ("SUCCESS", "PAYING")
        # Today's orders: the list is held to today.
        await cashier.goto("/console/orders?from=2020-01-01")
        assert "from=2020" not in cashier.url and await cashier.locator("tr[data-order-no=CSCASHIER1]").count() == 1
        order_id = await stack.order_id(TEA_SHOP.device_id, "CSCASHIER1")
        assert (await cashier.goto(f"/console/orders/{order_id}")).status == 200
        for path in (f"/console/orders/{order_id}/refund", "/console/orders/export?format=csv",
                     "/console/orders/summary", "/console/devices", f"/console/devices/{TEA_SHOP.device_id}",
                     "/console/codes", "/console/home", "/console/users", "/console/audit"):
            response = await cashier.goto(path)
            assert response.status == 403, path
            assert "您的角色无权使用此页面" in await cashier.inner_text("main"), path
        # Not only the pages: the form's POST is refused too, and nothing is refunded.
        csrf = await cashier.get_attribute("header input[name=csrf_token]", "value")
        resp = await cashier.request.post(f"{stack.url}/console/orders/{order_id}/refund",
                                          form={"csrf_token": csrf, "refund_no": "CR" + "3" * 20, "amount_fen": "660"})
        assert resp.status == 403
        assert await stack.storage.list_refunds(order_id) == []
    finally:
        await cashier.context.close()


async def test_refusals_on_the_users_page(stack):
    ops = await session(stack, OPERATOR, PASSWORDS[OPERATOR])
    base = {"password": "long-enough-password", "kind": "owner", "merchant_id": TEA_SHOP.merchant_id}
    for form, message in (({**base, "username": TEA}, f"已有名为 {TEA} 的用户"),
                          ({**base, "username": "new-one", "password": "short"}, "密码太弱"),
                          ({**base, "username": "new-one", "merchant_id": "M404"}, "没有商户 M404"),
                          ({**base, "username": "new-one", "merchant_id": ""}, "请选择商户")):
        status, text = await post(stack, ops, "/console/users", form)
        assert status == 400 and message in text, (form, text[-2000:])
    assert await stack.storage.console_user_by_name("new-one") is None
    # An owner makes no owners and no operators, and cannot touch another merchant's people.
    tea = await session(stack, TEA, PASSWORDS[TEA])
    status, _ = await post(stack, tea, "/console/users", {**base, "username": "boss2", "kind": "operator"})
    assert status == 400
    noodle_user = await stack.storage.console_user_by_name(NOODLE)
    status, _ = await post(stack, tea, "/console/users/status", {"user_id": noodle_user.id, "disabled": "1"})
    assert status == 404
    # The operator resets the noodle owner's password: shown once, the old one stops working.
    status, text = await post(stack, ops, "/console/users/password", {"user_id": noodle_user.id})
    new_password = re.search(r'<strong translate="no">([^<]+)</strong>', text).group(1)
    assert status == 200 and len(new_password) >= 10
    await session(stack, NOODLE, new_password)
    # ... and disables it: its logins are refused.
    status, _ = await post(stack, ops, "/console/users/status", {"user_id": noodle_user.id, "disabled": "1"})
    assert status == 303
    status, text = await get(stack, ops, "/console/users")
    assert "已禁用" in text.split('data-username="noodle"')[1].split("</tr>")[0]


async def _manager_refund(stack, headers, order_id: str, refund_no: str, password: str) -> tuple[int, str]:
    return await post(stack, headers, f"/console/orders/{order_id}/refund",
                      {"refund_no": refund_no, "amount_fen": "100", "reason": "", "refund_password": password})


async def test_a_manager_refunds_only_with_the_refund_password_and_wrong_ones_lock_refunds(stack, page):
    await add_console_user(stack.storage, "li-manager", "manager-password", "merchant", TEA_SHOP.merchant_id)
    await stack.storage.sql.execute("UPDATE console_users SET staff_role = 'manager' WHERE username = 'li-manager'")
    order_id = await stack.order_id(TEA_SHOP.device_id, "T1002")        # 88.00 via Alipay
    await login(page, "li-manager", "manager-password")
    await page.goto(f"/console/orders/{order_id}/refund")
    await page.fill("input[name=amount]", "1")
    async with page.expect_navigation():
        await page.click("button:text-is('继续…')")
    await page.fill("[data-testid=refund-password]", "not-the-password")
    async with page.expect_navigation():
        await page.click("button.danger")
    assert "退款密码错误" in await page.inner_text("[data-testid=refund-error]")
    assert await stack.storage.list_refunds(order_id) == []
    # The same confirmation with the right password refunds.
    await page.fill("[data-testid=refund-password]", REFUND_PASSWORDS[TEA_SHOP.merchant_id])
    async with page.expect_navigation():
        await page.click("button.danger")
    assert [r.amount_fen for r in await stack.storage.list_refunds(order_id)] == [100]

    # After five wrong ones in a row, even the right one is refused for a while.
    manager = await session(stack, "li-manager", "manager-password")
    for n in range(5):
        status, text = await _manager_refund(stack, manager, order_id, f"CR{n:020d}", "guess-%d" % n)
        assert status == 403 and "退款密码错误" in text
    status, text = await _manager_refund(stack, manager, order_id, "CR" + "9" * 20, REFUND_PASSWORDS["M1"])
    assert status == 403 and "退款已暂时锁定" in text
    assert len(await stack.storage.list_refunds(order_id)) == 1
    # A manager may not see the staff or set the refund password.
    for path in ("/console/users", "/console/refund-password", "/console/audit"):
        assert (await get(stack, manager, path))[0] == 403, path
    # An operator refunds without it (recorded as such).
    ops = await session(stack, OPERATOR, PASSWORDS[OPERATOR])
    status, _ = await post(stack, ops, f"/console/orders/{order_id}/refund",
                           {"refund_no": "CR" + "8" * 20, "amount_fen": "100", "reason": ""})
    assert status == 303 and len(await stack.storage.list_refunds(order_id)) == 2


async def test_the_owner_sets_the_refund_password_and_the_audit_log_shows_whose(stack, page):
    tea = await session(stack, TEA, PASSWORDS[TEA])
    status, text = await post(stack, tea, "/console/refund-password", {"password": "new-refund", "password2": "other"})
    assert status == 400 and "两次输入的密码不一致" in text
    status, _ = await post(stack, tea, "/console/refund-password", {"password": "new-refund", "password2": "new-refund"})
    assert status == 303
    order_id = await stack.order_id(TEA_SHOP.device_id, "T1003")
    status, _ = await _manager_refund(stack, tea, order_id, "CR" + "7" * 20, REFUND_PASSWORDS["M1"])
    assert status == 403          # the old one is gone
    status, _ = await _manager_refund(stack, tea, order_id, "CR" + "7" * 20, "new-refund")
    assert status == 303
    await session(stack, NOODLE, PASSWORDS[NOODLE])          # another merchant's login

    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await page.goto("/console/audit")
    rows = page.locator("[data-testid=audit] tbody tr")
    actions = {(await r.get_attribute("data-actor"), await r.get_attribute("data-action")) for r in await rows.all()}
    assert {(TEA, "refund_password_set"), (TEA, "refund"), (TEA, "refund_password_wrong"), (TEA, "login"),
            (NOODLE, "login")} <= actions
    text = await page.inner_text("[data-testid=audit]")
    assert "设置退款密码" in text and "new-refund" not in text and PASSWORDS[TEA] not in text

    owner = await new_page(page.context.browser, stack)
    try:
        await login(owner, TEA, PASSWORDS[TEA])
        await owner.goto("/console/audit")
        actors = {await r.get_attribute("data-actor") for r in await owner.locator("[data-testid=audit] tbody tr").all()}
        assert actors == {TEA}
    finally:
        await owner.context.close()


async def test_staff_roles_and_the_audit_log_in_storage(console_storage):
    storage = console_storage
    await storage.add_merchant("M1", "茶馆")
    await queries.add_user(storage, "boss", "x", "merchant", "M1", 1)
    await queries.add_user(storage, "till", "x", "merchant", "M1", 1, staff_role="cashier")
    await queries.add_user(storage, "ops", "x", "operator", None, 1)
    assert (await storage.console_user_by_name("boss")).staff_role == "owner"
    assert (await storage.console_user_by_name("till")).staff_role == "cashier"
    assert (await storage.console_user_by_name("ops")).staff_role is None
    assert await storage.reserve_refund_try("M1", 10, 3, 1000) is False      # no password set
    await storage.set_refund_password("M1", "hash1", "boss", 5)
    assert [await storage.reserve_refund_try("M1", 10, 3, 1000) for _ in range(4)] == [True, True, True, False]
    assert await storage.reserve_refund_try("M1", 1000, 3, 2000) is True     # the lock has passed
    await storage.set_refund_password("M1", "hash2", "boss", 6)
    row = await storage.get_refund_password("M1")
    assert row["password_hash"] == "hash2" and row["failed_tries"] == 0 and row["locked_until"] is None
    await storage.add_audit(1, "boss", "owner", "M1", "login", "", "")
    await storage.add_audit(2, "ops", "operator", None, "login", "", "")
    assert [e["actor"] for e in await storage.audit_entries(None, limit=10)] == ["ops", "boss"]
    assert [e["actor"] for e in await storage.audit_entries("M1", limit=10)] == ["boss"]
