"""Where the agent gets the amount due: one small interface, three sources, chosen in the config.

A source is an object with `name` and `async run(emit)`: it runs until cancelled and calls
`emit(AmountReading)` each time the POS shows a new amount due, or (amount None) when it can no
longer tell the amount: `text` then says why, for the cashier ("" for a field merely gone blank).
`make_source(config)` builds the one the config names ("pole_display", "screen" or "manual"), checked
against the other one when `[screen] cross_check` asks for it (`host_agent.sources.cross_check`).
"""
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AmountReading:
    amount_fen: object          # int; None: no amount can be told now
    source: str                 # "pole_display", "screen", "manual"
    text: str = ""              # what was seen, for the log; with no amount, why (for the cashier)
    at: float = field(default_factory=time.monotonic)


class AmountSource:
    name = "?"

    async def run(self, emit):
        raise NotImplementedError


def make_source(config):
    """The amount source the agent's config (host_agent.config.AgentConfig) asks for."""
    kind = config.amount_source
    if kind in ("pole_display", "screen") and config.screen.cross_check:
        from host_agent.sources.cross_check import CrossCheckedSource
        return CrossCheckedSource.from_config(config)
    if kind == "pole_display":
        from host_agent.sources.pole_display import PoleDisplaySource
        return PoleDisplaySource.from_config(config.pole_display)
    if kind == "screen":
        from host_agent.sources.screen import ScreenSource
        return ScreenSource.from_config(config.screen)
    if kind == "manual":
        from host_agent.sources.manual import ManualSource
        return ManualSource.from_config(config.manual)
    raise ValueError("unknown amount source %r" % kind)
