"""Two amount sources that must agree: the pole display's serial data and the screen's total field.

With `[screen] cross_check = true` the agent runs the other of the two beside `amount_source`. When
both read an amount they must agree: a disagreement is no amount (the agent forgets the one it holds,
and the cashier hears 客显与屏幕金额不一致 on the next scan). When only one reads, its amount stands:
the screen refuses what it cannot be sure of, and a pole display shows no total while items are rung
up. The two never change at the same instant, so a disagreement is declared only if it lasts
`settle_s`; meanwhile no amount is held.
"""
import asyncio
import logging
import time

from host_agent.amount import format_fen
from host_agent.sources import AmountReading, AmountSource

log = logging.getLogger(__name__)

SAY_DISAGREE = "客显与屏幕金额不一致"


class CrossCheckedSource(AmountSource):
    settle_s = 1.5              # longer than the screen takes to follow a redraw (two grabs)

    def __init__(self, primary, check):
        self.sources = (primary, check)
        self.name = "%s+%s" % (primary.name, check.name)
        self.shown = {primary.name: None, check.name: None}    # each one's amount now (None: none)
        self.agreed = None          # the amount last passed on
        self._passed_at = 0.0
        self._declaring = None      # the timer that declares a lasting disagreement

    @classmethod
    def from_config(cls, config):
        from host_agent.sources.pole_display import PoleDisplaySource
        from host_agent.sources.screen import ScreenSource
        pole = PoleDisplaySource.from_config(config.pole_display)
        screen = ScreenSource.from_config(config.screen, report_blank=True)
        return cls(pole, screen) if config.amount_source == "pole_display" else cls(screen, pole)

    def on_reading(self, reading, emit, loop):
        """One source's news: pass on what the two together say."""
        self.shown[reading.source] = reading.amount_fen
        amounts = {amount for amount in self.shown.values() if amount is not None}
        if len(amounts) > 1:
            if self.agreed is not None or self._declaring is None:
                emit(AmountReading(None, self.name, ""))        # no amount until they agree
            self.agreed = None
            if self._declaring is None:
                self._declaring = loop.call_later(self.settle_s, self._declare, emit)
            return
        if self._declaring is not None:
            self._declaring.cancel()
            self._declaring = None
        if reading.amount_fen is None:
            if reading.text and not amounts:        # a refusal, and nothing else to go by
                self.agreed = None
                emit(reading)
            return
        now = time.monotonic()
        # a new total from either; the same total from the other one moments later is the same sale
        if reading.amount_fen != self.agreed or now - self._passed_at > self.settle_s:
            self.agreed = reading.amount_fen
            self._passed_at = now
            emit(reading)

    def _declare(self, emit):
        self._declaring = None
        log.warning("the pole display and the screen disagree (%s): no amount until they agree",
                    ", ".join("%s %s" % (name, format_fen(amount) if amount is not None else "-")
                              for name, amount in self.shown.items()))
        emit(AmountReading(None, self.name, SAY_DISAGREE))

    async def run(self, emit):
        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(source.run(lambda reading: self.on_reading(reading, emit, loop)))
                 for source in self.sources]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()       # a source that stops has failed: say why
        finally:
            if self._declaring is not None:
                self._declaring.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
