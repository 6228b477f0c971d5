"""The firmware's API client signs its chip id and a per-boot id into every request, and the real
server tells a copied key by them: a reboot is fine, two boards taking turns with one key are refused."""
import pytest

from core.api import ApiError, DeviceApi
from core.http import HttpClient
from hw_sim.boards.stack import ServerStack

CHIP = "a4cf12000001"


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path, ("D0001",)) as stack:
        client = HttpClient(stack.url)
        stack.http = client
        yield stack
        await client.close()


def board(stack, hardware_id=CHIP):
    """One boot of a board holding D0001's key: a new DeviceApi is a new boot id."""
    return DeviceApi(stack.http, "D0001", stack.keys["D0001"], hardware_id=hardware_id)


async def test_every_request_carries_the_signed_identity_and_reboots_are_fine(stack):
    first = board(stack)
    await first.heartbeat(battery_pct=90)
    await first.info()
    device = await stack.storage.get_device("D0001")
    assert (device.hardware_id, device.boot_id) == (CHIP, first.identity[1])
    rebooted = board(stack)
    assert rebooted.identity[1] != first.identity[1]
    await rebooted.heartbeat(battery_pct=89)
    assert (await stack.storage.get_device("D0001")).flag is None


async def test_two_boards_with_one_key_are_refused(stack):
    original, copy = board(stack), board(stack)         # the copy even reports the original's chip id
    await original.heartbeat()
    await copy.heartbeat()
    with pytest.raises(ApiError) as refused:
        await original.heartbeat()
    assert (refused.value.status, refused.value.code) == (403, "device_cloned")
    with pytest.raises(ApiError) as refused:
        await copy.info()
    assert refused.value.code == "device_cloned"


async def test_a_board_with_another_chip_is_refused(stack):
    await board(stack).heartbeat()
    with pytest.raises(ApiError) as refused:
        await board(stack, hardware_id="a4cf12999999").heartbeat()
    assert refused.value.code == "device_cloned"
