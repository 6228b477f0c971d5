"""The cloud speaker (profile `speaker`) on its virtual board against the real server: on 4G through the
virtual modem, it says every payment on the shop's static code, its volume keys make it louder and
quieter (and say so), and it keeps its heartbeat."""
import asyncio

import pytest

from hw_sim.boards import VirtualSpeaker
from hw_sim.boards.stack import ServerStack, Uplink

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


async def test_the_speaker_says_when_it_lost_the_server_and_catches_up_when_back(stack):
    async with Uplink(stack.port) as line:
        speaker = VirtualSpeaker(line.url, SPEAKER, stack.keys[SPEAKER], config={"link_down_say_s": 60})
        async with speaker:
            await speaker.wait_event(lambda e: e["event"] == "announce_start")
            speaker.app.announcer.max_retry_ms = 1000
            await asyncio.sleep(0.2)
            line.cut()
            await speaker.wait_spoken("网络已断开", timeout=3.0)
            assert speaker.led == "yellow"
            await stack.pay_static_code(SPEAKER, 1200)      # paid while the speaker cannot hear it
            await asyncio.sleep(2.0)
            assert speaker.spoken.count("网络已断开") == 1 and "微信收款 12.00 元" not in speaker.spoken
            line.restore()
            await speaker.wait_spoken("微信收款 12.00 元", timeout=5.0)
            assert speaker.led == "off"
