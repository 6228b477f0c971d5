"""The cloud speaker (profile `speaker`) on its virtual board against the real server: on 4G through the
virtual modem, it says every payment on the shop's static code, its volume keys make it louder and
quieter (and say so), and it keeps its heartbeat."""
import asyncio

import pytest

from hw_sim.board import VirtualSpeaker
from hw_sim.boards.stack import ServerStack

SPEAKER = "S0001"


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path / "server", (SPEAKER,)) as s:
        yield s


async def test_the_speaker_says_the_shops_payments_and_its_volume(stack, tmp_path):
    speaker = VirtualSpeaker(stack.url, SPEAKER, stack.keys[SPEAKER], key_ms=20)
    async with speaker:
        assert speaker.network_kind == "4g" and speaker.modem.data is not None      # dialled, PPP up
        await speaker.wait_event(lambda e: e["event"] == "announce_start")
        await asyncio.sleep(0.2)
        await stack.pay_static_code(SPEAKER, 2580)
        await speaker.wait_spoken("微信收款 25.80 元", timeout=2.0)

        assert speaker.volume == 6
        await speaker.press("VOL+")
        await speaker.wait_spoken("音量 7")
        await speaker.press("VOL-", "VOL-")
        await speaker.wait_spoken("音量 5")
        assert speaker.volume == 5
        await stack.pay_static_code(SPEAKER, 990)
        await speaker.wait_spoken("微信收款 9.90 元", timeout=2.0)
        beat = await speaker.app.heartbeat()
        assert beat["announce_seq"] == 2
        device = await stack.storage.get_device(SPEAKER)
        assert device is not None
