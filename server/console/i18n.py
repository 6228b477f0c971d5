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
import re
from pathlib import Path
from typing import NamedTuple

import jinja2
from aiohttp import web
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from ..keys import SETTINGS
from ..refusals import N_
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


def english(message: str) -> str:
    """The identity: a gettext for callers without a request (the source language)."""
    return message


def ngettext(request: web.Request, singular: str, plural: str, n: int) -> str:
    return _TRANSLATIONS[locale_of(request)].ngettext(singular, plural, n)


def _template_gettext(message: str) -> str:
    return _TRANSLATIONS[_serving.get().language.locale].gettext(message)


template_gettext = _template_gettext   # for template filters (server/console/display.py's names)


# server/params.py refuses a URL part or query parameter in English sentences naming it (the device API's
# and the ops API's message too): a console page shows them in the reader's language, matched by wording.
PARAM_NAMES = {"From": N_("From"), "To": N_("To"), "Day": N_("Day"), "day": N_("day"), "device": N_("device"),
               "Device": N_("Device"), "device id": N_("device id"), "order id": N_("order id"),
               "rollout id": N_("rollout id"), "channel": N_("channel"), "Channel": N_("Channel"),
               "Search": N_("Search"), "Store": N_("Store"), "Merchant": N_("Merchant"),
               "Stop only after": N_("Stop only after"), "order_no": N_("order number"), "wait": N_("wait")}
_PARAM_RULES = {"a channel name such as wechat": N_("a channel name such as wechat"),
                "a merchant id: A-Z a-z 0-9 _ -": N_("a merchant id: A-Z a-z 0-9 _ -"),
                "a day written like 2026-11-21": N_("a day written like 2026-11-21")}
_PARAM_SENTENCES = (
    (re.compile(r"(?P<name>.+): a day from (?P<first>\S+) to (?P<last>\S+), written like (?P<example>\S+)\Z"),
     N_("%(name)s: a day from %(first)s to %(last)s, written like %(example)s")),
    (re.compile(r"(?P<name>.+): at most (?P<max>[0-9]+) characters, with no control characters\Z"),
     N_("%(name)s: at most %(max)s characters, with no control characters")),
    (re.compile(r"(?P<name>.+) must be a whole number of 1-(?P<max>[0-9]+) digits 0-9\Z"),
     N_("%(name)s must be a whole number of 1-%(max)s digits 0-9")),
    (re.compile(r"(?P<name>.+) is not in its format\Z"), N_("%(name)s is not in its format")),
    (re.compile(r"(?P<name>.+?) must be (?P<rule>.+)\Z"), N_("%(name)s must be %(rule)s")),
)


def refusal_text(request: web.Request, sentence: str) -> str:
    """A refusal in the reader's language: a sentence marked N_ (a handler's), or one of server/params.py's
    (by its wording, naming the parameter); any other as it is."""
    translations = _TRANSLATIONS[locale_of(request)]
    translated = translations.gettext(sentence)
    if translated != sentence or locale_of(request) == SOURCE_LOCALE:
        return translated
    for pattern, msgid in _PARAM_SENTENCES:
        match = pattern.match(sentence)
        if match and match["name"] in PARAM_NAMES:
            values = {key: translations.gettext(PARAM_NAMES[value] if key == "name" else
                                                _PARAM_RULES.get(value, value) if key == "rule" else value)
                      for key, value in match.groupdict().items()}
            return translations.gettext(msgid) % values
    return sentence


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
    # the i18n extension adds this method at run time (Environment.extend); jinja2's types cannot declare it
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_template_gettext, ngettext=_template_ngettext, newstyle=True)
    env.globals.update(page_language=page_language, languages=tuple(LANGUAGES.values()))
    app.middlewares.append(locale_middleware)
    app.router.add_post("/console/lang", choose_language)


async def choose_language(request: web.Request) -> web.StreamResponse:
    """The switch's form: `lang` (zh_CN or en; anything else changes nothing), `next` (the page to return
    to). Like every console form it carries the session's CSRF token, so only logged-in pages offer it."""
    form = await request.post()
    response = auth.redirect(auth.safe_next(str(form.get("next", ""))))
    locale = form.get(LANG_FIELD)
    if isinstance(locale, str) and locale in LANGUAGES:
        response.set_cookie(LANG_COOKIE, locale, max_age=_COOKIE_MAX_AGE_S, path="/console", httponly=True,
                            samesite="Lax", secure=request.app[SETTINGS].console.secure_cookies)
    return response
