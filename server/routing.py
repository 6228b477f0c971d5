"""Which channel takes a payment code: a prefix table from config, not code.

Among the rules whose lengths fit, the longest matching prefix wins (so a specific rule like
"6210" can sit beside a broad "62"); equal prefixes go to the rule listed first.
"""
from __future__ import annotations

from collections.abc import Iterable

from .settings import RouteRule


class CodeRouter:
    def __init__(self, rules: Iterable[RouteRule]):
        self._rules = tuple(rules)

    def channel_for(self, auth_code: str) -> str | None:
        best: tuple[int, str] | None = None
        for rule in self._rules:
            if len(auth_code) not in rule.lengths:
                continue
            for prefix in rule.prefixes:
                if auth_code.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), rule.channel)
        return best[1] if best else None
