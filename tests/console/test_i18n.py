"""The console's languages (server/console/i18n.py): every marked string has its Chinese in the catalog, the
pages are Chinese unless the user chose English with the header's switch, and the switch is a console form
like any other (CSRF token, nothing but the two languages)."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from tests.console.conftest import login
from tests.console.console_stack import OPERATOR, PASSWORDS
from server.console import auth, i18n
from tests.console.test_form_refusals import logged_in

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "server" / "console"
# A string the header of every logged-in page shows (the switch's label).
LABEL = {"zh_CN": "语言", "en": "Language"}


def extracted(directory: Path) -> dict[str, str]:
    """msgid -> where it is, extracted as `pybabel extract -F babel.cfg` does (docs/console.md)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(directory, method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        found[msgid] = f"{filename}:{lineno}"
    return found


def untranslated(catalog: Catalog, msgids: dict[str, str]) -> list[str]:
    missing = []
    for msgid, where in msgids.items():
        entry = catalog.get(msgid)
        if entry is None or entry.fuzzy or not all(entry.string if entry.pluralizable else (entry.string,)):
            missing.append(f"{where}: {msgid!r}")
    return missing


def test_every_marked_string_has_its_chinese():
    msgids = extracted(CONSOLE)
    assert LABEL["en"] in msgids       # the extraction finds the templates' strings at all
    assert untranslated(i18n.read_catalog("zh_CN"), msgids) == []


def test_a_string_without_chinese_is_reported(tmp_path):
    # Handler code's strings are found too (babel.cfg's keywords: the request comes first).
    (tmp_path / "page.py").write_text('from server.console import i18n\n\n'
                                      'def title(request):\n    return i18n.gettext(request, "Language")\n'
                                      'def other(request):\n    return i18n.gettext(request, "No such string")\n')
    (tmp_path / "page.html").write_text('<p>{% trans %}Nor this one{% endtrans %}</p>\n')
    missing = untranslated(i18n.read_catalog("zh_CN"), extracted(tmp_path))
    assert sorted(line.split(": ", 1)[1] for line in missing) == ["'No such string'", "'Nor this one'"]


def placeholder_errors(catalog: Catalog) -> list:
    """Babel's checks (an unknown or mistyped placeholder), and a `%(name)s` the translation lost."""
    errors = [(message.id, problems) for message, problems in catalog.check()]
    for message in catalog:
        if message.id and message.python_format and \
                set(re.findall(r"%\(\w+\)", str(message.id))) != set(re.findall(r"%\(\w+\)", str(message.string))):
            errors.append((message.id, "placeholders differ"))
    return errors


def test_the_catalog_keeps_every_placeholder():
    assert placeholder_errors(i18n.read_catalog("zh_CN")) == []
    broken = Catalog(locale="zh_CN")
    broken.add("%(n)s orders", "订单")
    broken.add("%(n)s devices", "%(count)s 台设备")
    assert {msgid for msgid, _problems in placeholder_errors(broken)} == {"%(n)s orders", "%(n)s devices"}


async def test_pages_are_chinese_until_the_user_chooses_english(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await page.goto("/console/orders?status=SUCCESS")
    switch = page.locator("[data-testid=lang-switch]")
    assert await page.get_attribute("html", "lang") == "zh-CN"   # the browser asks for zh-CN; so do we
    assert await switch.locator(".lang-label").inner_text() == LABEL["zh_CN"]
    assert await switch.locator("button[aria-pressed=true]").inner_text() == "中文"

    async with page.expect_navigation():
        await switch.locator("button[value=en]").click()
    assert page.url.endswith("/console/orders?status=SUCCESS")   # back on the same page, filters kept
    assert await page.get_attribute("html", "lang") == "en"
    assert await switch.locator(".lang-label").inner_text() == LABEL["en"]
    assert await switch.locator("button[aria-pressed=true]").inner_text() == "English"
    cookie = {c["name"]: c for c in await page.context.cookies()}[i18n.LANG_COOKIE]
    assert (cookie["value"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == \
        ("en", True, "Lax", "/console")
    # Another page, and an error page, in English too.
    await page.goto("/console/devices")
    assert await page.get_attribute("html", "lang") == "en"
    await page.goto("/console/orders/no-such-order")
    assert await page.get_attribute("html", "lang") == "en"

    async with page.expect_navigation():
        await switch.locator("button[value=zh_CN]").click()
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await switch.locator(".lang-label").inner_text() == LABEL["zh_CN"]


async def html_lang(stack, cookie: str, **headers: str) -> str:
    async with stack.http.get(stack.url + "/console/orders", headers={"Cookie": cookie, **headers}) as resp:
        assert resp.status == 200
        return re.search(r'<html lang="([^"]+)"', await resp.text()).group(1)


async def test_only_chinese_or_english_and_only_from_a_console_page(stack):
    session = await logged_in(stack)     # the operator's cookie and CSRF token
    cookie, token = session["Cookie"], session[auth.CSRF_HEADER]
    # Not the browser's language: Chinese first.
    assert await html_lang(stack, cookie, **{"Accept-Language": "en-US,en;q=0.9"}) == "zh-CN"

    # Another language is no choice: nothing is set, the pages stay Chinese.
    async with stack.http.post(stack.url + "/console/lang", allow_redirects=False, headers={"Cookie": cookie},
                               data={"csrf_token": token, "lang": "fr", "next": "/console/devices"}) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/console/devices"
        assert i18n.LANG_COOKIE not in resp.cookies
    assert await html_lang(stack, cookie + f"; {i18n.LANG_COOKIE}=fr") == "zh-CN"

    # Without the session's token (another site's form), refused; with it, never sent off the console.
    async with stack.http.post(stack.url + "/console/lang", allow_redirects=False, headers={"Cookie": cookie},
                               data={"lang": "en", "next": "/console/devices"}) as resp:
        assert resp.status == 403
        assert i18n.LANG_COOKIE not in resp.cookies
    async with stack.http.post(stack.url + "/console/lang", allow_redirects=False, headers={"Cookie": cookie},
                               data={"csrf_token": token, "lang": "en", "next": "https://evil.example/"}) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/console/orders"
        assert resp.cookies[i18n.LANG_COOKIE].value == "en"
        assert resp.cookies[i18n.LANG_COOKIE]["max-age"] == str(365 * 24 * 3600)
    assert await html_lang(stack, cookie + f"; {i18n.LANG_COOKIE}=en") == "en"

    # Logged out there is no session token: the switch is only on logged-in pages.
    async with stack.http.post(stack.url + "/console/lang", allow_redirects=False,
                               data={"csrf_token": token, "lang": "en"}) as resp:
        assert resp.status == 403
