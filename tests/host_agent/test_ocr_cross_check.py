"""The pole display and the screen checked against each other (`[screen] cross_check = true`): when
both read a total they must agree, and a disagreement is no amount; when one of them cannot tell,
the other's amount stands."""
import asyncio

import pytest

from host_agent.config import ConfigError, parse_config
from host_agent.sources import AmountReading, AmountSource, make_source
from host_agent.sources.cross_check import SAY_DISAGREE, CrossCheckedSource

KEY = "ab" * 32
CONFIG = {
    "server": {"url": "https://pay.example.com", "device_id": "PC0001", "device_key": KEY},
    "box": {"port": "COM4"},
    "pole_display": {"port": "COM5", "mode": "sniff"},
    "screen": {"region": [620, 540, 360, 48], "cross_check": True},
}


class FedSource(AmountSource):
    """A source the test feeds by hand."""

    def __init__(self, name):
        self.name = name
        self.emit = None
        self.running = asyncio.Event()

    async def run(self, emit):
        self.emit = emit
        self.running.set()
        await asyncio.Event().wait()

    def shows(self, amount_fen, text=""):
        self.emit(AmountReading(amount_fen, self.name, text))


@pytest.fixture
async def till():
    pole, screen = FedSource("pole_display"), FedSource("screen")
    checked = CrossCheckedSource(pole, screen)
    checked.settle_s = 0.1
    passed = []
    task = asyncio.create_task(checked.run(passed.append))
    await pole.running.wait()
    await screen.running.wait()
    yield pole, screen, passed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def amounts(passed):
    return [(r.amount_fen, r.text if r.amount_fen is None else "") for r in passed]


async def test_two_sources_that_agree_give_the_amount_once(till):
    pole, screen, passed = till
    pole.shows(1250)
    screen.shows(1250)                  # the screen catches up with the same sale
    assert amounts(passed) == [(1250, "")]


async def test_a_disagreement_is_no_amount(till):
    pole, screen, passed = till
    pole.shows(1250)
    screen.shows(125000)                # the screen misread the point: the two disagree
    assert amounts(passed) == [(1250, ""), (None, "")]          # taken back at once
    await asyncio.sleep(0.2)
    assert amounts(passed)[-1] == (None, SAY_DISAGREE)          # and the cashier hears why
    screen.shows(1250)
    assert amounts(passed)[-1] == (1250, "")


async def test_a_disagreement_that_settles_is_not_reported(till):
    pole, screen, passed = till
    screen.shows(1250)
    pole.shows(3000)                    # the next sale: the pole display is first
    screen.shows(None)                  # the screen redraws: blank ...
    screen.shows(3000)                  # ... then the new total
    await asyncio.sleep(0.2)
    assert amounts(passed) == [(1250, ""), (None, ""), (3000, "")]


async def test_when_one_cannot_tell_the_other_stands(till):
    pole, screen, passed = till
    pole.shows(1250)
    screen.shows(None, "屏幕金额看不清")      # the screen refuses: the pole display's total stands
    assert amounts(passed) == [(1250, "")]
    pole.shows(800)
    assert amounts(passed)[-1] == (800, "")


def test_the_config_asks_for_the_check():
    config = parse_config(dict(CONFIG, amount_source="pole_display"))
    source = make_source(config)
    assert isinstance(source, CrossCheckedSource)
    assert [s.name for s in source.sources] == ["pole_display", "screen"]
    assert source.sources[1].reader.decimals == 2
    screen_first = make_source(parse_config(dict(CONFIG, amount_source="screen")))
    assert [s.name for s in screen_first.sources] == ["screen", "pole_display"]


@pytest.mark.parametrize("change, message", [
    ({"screen": {"region": [620, 540, 360, 48], "decimals": 3}}, "decimals must be 0, 1 or 2"),
    ({"screen": {"region": [], "cross_check": True}}, "region"),
    ({"amount_source": "manual"}, "cross_check"),
])
def test_the_ocr_settings_are_checked(change, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**CONFIG, "amount_source": "pole_display", **change})
