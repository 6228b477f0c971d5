"""Which channel takes a payment code: a prefix table from config, not code.

Among the rules whose lengths fit, the longest matching prefix wins (so a specific rule like
"6210" can sit beside a broad "62"); equal prefixes go to the rule listed first.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..settings import RouteRule


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

    def code_shapes(self, channels: Iterable[str]) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
        """The prefixes and lengths of the codes routed to `channels`, per channel: what the device API's
        `info` sends as `code_prefixes` and `code_lengths` (docs/device-api.md), so a device refuses a code
        of a wallet the shop does not take before the customer waits. A channel's rules are merged: a
        device's pre-check may let through what the server then refuses, never the other way round."""
        wanted = set(channels)
        prefixes: dict[str, list[str]] = {}
        lengths: dict[str, list[int]] = {}
        for rule in self._rules:
            if rule.channel not in wanted:
                continue
            known = prefixes.setdefault(rule.channel, [])
            known.extend(p for p in rule.prefixes if p not in known)
            lengths[rule.channel] = sorted(set(lengths.get(rule.channel, ())) | set(rule.lengths))
        return prefixes, lengths
