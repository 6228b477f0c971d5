"""Where the agent gets the amount due: one small interface, three sources, chosen in the config.

A source is an object with `name` and `async run(emit)`: it runs until cancelled and calls
`emit(AmountReading)` each time the POS shows a new amount due. `make_source(config)` builds the one
the config names ("pole_display", "screen" or "manual").
"""
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AmountReading:
    amount_fen: int
    source: str                 # "pole_display", "screen", "manual"
    text: str = ""              # what was seen, for the log
    at: float = field(default_factory=time.monotonic)


class AmountSource:
    name = "?"

    async def run(self, emit):
        raise NotImplementedError


def make_source(config):
    """The amount source the agent's config (host_agent.config.AgentConfig) asks for."""
    kind = config.amount_source
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
