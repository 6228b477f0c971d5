"""A still screen read twice: the two-grab rule compared the screen with itself, so a consistent
misread (DUE 7.70 read as 770.00 on both grabs) became the amount. Agreement now means two different
reads of each grab (the line, then the number alone from another picture) and two grabs; a refusal
agreed by two grabs takes back the amount the agent held and tells the cashier why, in Chinese."""
import asyncio

import pytest

from host_agent.agent import Agent
from host_agent.box_link import Scan
from host_agent.ocr import AmountReader, REFUSALS, refusal_text
from host_agent.sources import AmountReading
from host_agent.sources.screen import ScreenSource
from hw_sim.pos.ocr_corpus import Sample
from hw_sim.pos.screen import ScreenStyle


@pytest.fixture(scope="module")
def reader():
    reader = AmountReader()
    reader.warm_up()
    return reader


class StillScreen:
    """A grabber that returns the same picture of the region every time."""

    def __init__(self, image):
        self.image = image
        self.grabs = 0

    def __call__(self, region):
        self.grabs += 1
        return self.image


def readings(source, grabs):
    return [found for found in (source.step() for _ in range(grabs)) if found is not None]


@pytest.mark.parametrize("font, fmt, amount_fen", [
    ("dseg7-classic", "label_due", 770), ("dseg7-modern", "label_due", 770), ("dseg7-classic", "label_zh", 770),
    ("dseg7-classic-bold", "label_due", 770),
])
def test_a_still_screen_misread_the_same_way_twice_is_not_taken(reader, font, fmt, amount_fen):
    sample = Sample(ScreenStyle(font=font, size=32, theme="dark", fmt=fmt), amount_fen)
    screen = StillScreen(sample.image())
    source = ScreenSource((0, 0, screen.image.width, screen.image.height), grabber=screen, reader=reader)
    found = readings(source, 4)
    assert all(f.amount_fen in (amount_fen, None) for f in found), found
    assert source.reads == 1            # the same pixels are not read again: the agreement is within the read


def test_an_ambiguous_field_is_refused_with_a_reason_for_the_cashier(reader):
    sample = Sample(ScreenStyle(size=28, fmt="label_en", layout="two_totals"), 1250)
    screen = StillScreen(sample.image())
    source = ScreenSource((0, 0, screen.image.width, screen.image.height), grabber=screen, reader=reader)
    found = readings(source, 3)
    assert [(f.amount_fen, f.text) for f in found] == [(None, REFUSALS["several_totals"][0])]
    assert found[0].text == "屏幕上有多个金额，无法确定应收"
    assert "more than one total" in refusal_text("several_totals", english=True)


class QuietBox:
    """The box as the agent sees it: what it was told to say and light."""

    def __init__(self):
        self.said, self.leds = [], []

    async def say(self, text):
        self.said.append(text)

    async def led(self, colour, blink=False):
        self.leds.append(colour)


async def test_a_refusal_takes_back_the_amount_and_the_cashier_hears_why():
    box = QuietBox()
    agent = Agent(source=ScreenSource((0, 0, 10, 10), grabber=StillScreen(None), reader=object()), box=box, api=None,
                  prompt_on_amount=False)
    agent.on_amount(AmountReading(1250, "screen", "应收 12.50"))
    agent.on_amount(AmountReading(None, "screen", refusal_text("reads_disagree")))
    assert agent.current_amount() is None
    agent.on_scan(Scan(1, "134567890123456789", 0.0))
    await asyncio.sleep(0.05)
    assert box.said == ["屏幕金额两次识别不一致"] and box.leds == ["red"]
    # a blank field (no reason) takes the amount back without a word; the next scan hears the usual
    agent.on_amount(AmountReading(800, "screen", "8.00"))
    agent.on_amount(AmountReading(None, "screen", ""))
    agent.on_scan(Scan(2, "134567890123456789", 0.0))
    await asyncio.sleep(0.05)
    assert box.said[-1] == "请先输入金额"
