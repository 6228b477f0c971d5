"""The console's languages: simplified Chinese (the default) and English, chosen by the user with a cookie.

Source strings (msgids) are English. Templates mark them `{% trans %}Language{% endtrans %}` or
`{{ _("Language") }}`; handlers call `gettext(request, "Language")` or `ngettext(request, one, many, n)`.
The Chinese is in locale/zh_CN/LC_MESSAGES/messages.po, read at start-up (no compile step); English needs
no catalog. tests/console/test_i18n.py fails when a marked string has no Chinese (docs/console.md).

The language is the `console_lang` cookie's, else Chinese: never the browser's Accept-Language (the product
is Chinese first). POST /console/lang sets it from the switch in the header of every logged-in page.
"""
from __future__ import annotations

import contextvars
import gettext as gnu_gettext
import io
from pathlib import Path
from typing import NamedTuple

import jinja2
from aiohttp import web
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from ..keys import SETTINGS
from . import auth


class Language(NamedTuple):
    locale: str      # the catalog's name, the cookie's and the switch's value
    html_lang: str   # BCP 47, for <html lang>
    name: str        # in the language itself, for the switch


LANGUAGES = {language.locale: language for language in (Language("zh_CN", "zh-CN", "中文"),
                                                        Language("en", "en", "English"))}
DEFAULT_LOCALE = "zh_CN"
SOURCE_LOCALE = "en"   # the msgids' language: no catalog
LANG_COOKIE = "console_lang"
LANG_FIELD = "lang"
_COOKIE_MAX_AGE_S = 365 * 24 * 3600
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def read_catalog(locale: str) -> Catalog:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def _translations(catalog: Catalog) -> Translations:
    # The .mo gettext reads, written in memory: the .po stays the only file (fuzzy entries are left out).
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo)


# Read once at import: a broken catalog stops the server at start-up, not a page later.
_TRANSLATIONS: dict[str, gnu_gettext.NullTranslations] = {
    locale: gnu_gettext.NullTranslations() if locale == SOURCE_LOCALE else _translations(read_catalog(locale))
    for locale in LANGUAGES}


class PageLanguage(NamedTuple):
    """What a page being rendered needs: its language, and its own URL (as sent) for the switch to return to."""
    language: Language
    here: str


# The page being served, for templates: aiohttp_jinja2 shares one Jinja environment between concurrent
# requests, and macros imported without context cannot see the template's variables.
_serving: contextvars.ContextVar[PageLanguage] = contextvars.ContextVar(
    "console_page_language", default=PageLanguage(LANGUAGES[DEFAULT_LOCALE], "/console/"))


def locale_of(request: web.Request) -> str:
    """The user's chosen locale (cookie), else Chinese; an unknown cookie value counts as none."""
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT_LOCALE


def gettext(request: web.Request, message: str) -> str:
    """`message` (English) in the request's language."""
    return _TRANSLATIONS[locale_of(request)].gettext(message)


def ngettext(request: web.Request, singular: str, plural: str, n: int) -> str:
    return _TRANSLATIONS[locale_of(request)].ngettext(singular, plural, n)


def _template_gettext(message: str) -> str:
    return _TRANSLATIONS[_serving.get().language.locale].gettext(message)


def _template_ngettext(singular: str, plural: str, n: int) -> str:
    return _TRANSLATIONS[_serving.get().language.locale].ngettext(singular, plural, n)


def page_language() -> PageLanguage:
    """Template global: `{% set page_lang = page_language() %}`, then `{{ page_lang.language.html_lang }}`."""
    return _serving.get()


@web.middleware
async def locale_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Templates rendered while serving this request speak its language (error pages too: runs outside
    the console's own middleware)."""
    # Back to this page after switching; a path that is no console page of ours (a surrogate in a hostile
    # URL, another site) goes to the orders instead.
    token = _serving.set(PageLanguage(LANGUAGES[locale_of(request)], auth.safe_next(request.raw_path)))
    try:
        return await handler(request)
    finally:
        _serving.reset(token)


def setup(app: web.Application, env: jinja2.Environment) -> None:
    """Before the console's middleware, so that its error pages are translated too."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=_template_gettext, ngettext=_template_ngettext, newstyle=True)
    env.globals.update(page_language=page_language, languages=tuple(LANGUAGES.values()))
    app.middlewares.append(locale_middleware)
    app.router.add_post("/console/lang", choose_language)


async def choose_language(request: web.Request) -> web.StreamResponse:
    """The switch's form: `lang` (zh_CN or en; anything else changes nothing), `next` (the page to return
    to). Like every console form it carries the session's CSRF token, so only logged-in pages offer it."""
    form = await request.post()
    response = auth.redirect(auth.safe_next(str(form.get("next", ""))))
    locale = form.get(LANG_FIELD)
    if locale in LANGUAGES:
        response.set_cookie(LANG_COOKIE, locale, max_age=_COOKIE_MAX_AGE_S, path="/console", httponly=True,
                            samesite="Lax", secure=request.app[SETTINGS].console.secure_cookies)
    return response
