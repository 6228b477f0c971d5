"""The WebAssembly port's profile checks (test_fw_micropython_profiles.py: QR encoder, a QR on an
SSD1306 frame, battery curve, modem replies, the basic box's app on its serial line), the same script
and assertions, on the native MicroPython port with a fixed heap (mp_run.py)."""
import pytest

from tests.firmware import mp_run
from tests.firmware import test_fw_micropython_profiles as webassembly

pytestmark = pytest.mark.skipif(not mp_run.available("native"), reason=mp_run.skip_reason("native"))

HEAP = 160 * 1024       # mp_profiles.py needs 128 KiB from source


@pytest.fixture(scope="module")
def micropython(tmp_path_factory):
    return mp_run.run("mp_profiles.py", webassembly.PARAMS, port="native",
                      workdir=tmp_path_factory.mktemp("native"), heap=HEAP)


for _name, _test in vars(webassembly).items():
    if _name.startswith("test_"):
        globals()[_name] = _test
