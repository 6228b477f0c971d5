"""Fixtures for the host agent's tests: real pseudo-terminals for the POS and the box, and a real
payment server with the WeChat sandbox on loopback for the end-to-end payments."""
import logging

import pytest

from hw_sim.boards.stack import ServerStack
from hw_sim.pos.pole_display import PseudoSerial
from server.devices import register_device
from tests.host_agent.agent_test_peers import ScriptedBox

AGENT_ID = "PC0001"


@pytest.fixture
def pty_pair():
    """Opens pseudo-terminals and closes them after the test."""
    opened = []

    def make():
        port = PseudoSerial()
        opened.append(port)
        return port

    yield make
    for port in opened:
        port.close()


@pytest.fixture
def scripted_box():
    boxes = []

    def make(**kw):
        box = ScriptedBox(**kw)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.close()


class PaymentServer(ServerStack):
    """The scanpay server and the WeChat sandbox on 127.0.0.1 (hw_sim's ServerStack), with the agent
    registered as a device (its key in `key_hex`)."""

    def __init__(self, db_path):
        super().__init__(db_path.parent, (), database={"path": str(db_path)}, deadline_s=6.0, heartbeat_s=None)

    async def seed(self):
        self.key_hex = await register_device(self.storage, AGENT_ID, "M0001", "收银台 1",
                                             merchant_name="老王便利店")


@pytest.fixture
async def payment_server(tmp_path):
    async with PaymentServer(tmp_path / "server.db") as server:
        yield server


@pytest.fixture
def agent_log(caplog):
    caplog.set_level(logging.INFO)
    return caplog
