"""Refusals a person reads: an English sentence marked for translation, and the values it names.

    raise StoreRefused(N_("merchant %(merchant)s already has a store called %(name)s"), merchant=m, name=n)

`str(refusal)` is the English sentence (CLI, logs, the ops API's `message`); a console page shows
`refusal.text(gettext)` in the reader's language (server/console/i18n.py; the catalog has the template).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(text: str) -> str:
    """Marks `text` for the translators (pybabel extract finds N_) without translating it here."""
    return text


class Refused(ValueError):
    """The request cannot be carried out; the sentence says why."""

    def __init__(self, template: str, **values: Any):
        self.template = template
        self.values = values
        super().__init__(template % values if values else template)

    def text(self, gettext: Callable[[str], str]) -> str:
        translated = gettext(self.template)
        return translated % self.values if self.values else translated
