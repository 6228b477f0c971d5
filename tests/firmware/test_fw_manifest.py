"""`tools build` writes frozen/manifest.py, the MicroPython manifest that freezes a profile's firmware
into an ESP32 image. It names exactly the modules the profile imports (found here independently, by
the standard library's modulefinder over the firmware tree), each beside it as the firmware's source,
on top of the ESP32 port's own manifest. (tests/firmware/test_fw_micropython_native.py runs the box
from nothing but its manifest's modules.)"""
import modulefinder
import pathlib

import pytest

from tools import build, signing

FIRMWARE = pathlib.Path(__file__).resolve().parents[2] / "firmware"


class ManifestCalls:
    """The manifest functions MicroPython's tools/manifestfile.py gives a manifest, with their
    signatures there: include(manifest_path, **kwargs); package(package_path, files=None,
    base_path=".", opt=None); module(module_path, base_path=".", opt=None). They record instead."""

    def __init__(self, directory):
        self.directory = directory
        self.includes = []
        self.requires = []      # micropython-lib packages (require(name, **kwargs))
        self.files = {}         # module path in the image -> file on disk
        self.opts = set()

    def include(self, manifest_path, **kwargs):
        self.includes.append(manifest_path)

    def package(self, package_path, files=None, base_path=".", opt=None):
        assert files is not None, "a package without files= freezes whatever is in the folder"
        for name in files:
            self.files[package_path + "/" + name] = self.directory / base_path / package_path / name
        self.opts.add(opt)

    def require(self, name, **kwargs):
        self.requires.append(name)

    def module(self, module_path, base_path=".", opt=None):
        self.files[module_path] = self.directory / base_path / module_path
        self.opts.add(opt)

    def run(self, text):
        exec(text, {"include": self.include, "package": self.package, "module": self.module,
                    "require": self.require})
        return self


def imported_by(profile):
    """Firmware modules the profile runs: modulefinder from main.py and the profile's board, main.py's
    choice of the other boards left out (its board may still import one itself)."""
    others = ["boards.%s" % p for p in build.PROFILES if p != profile]
    found = set()
    for root in ("main.py", "boards/%s.py" % profile):
        finder = modulefinder.ModuleFinder(path=[str(FIRMWARE)], excludes=others if root == "main.py" else [])
        finder.run_script(str(FIRMWARE / root))
        for module in finder.modules.values():
            if module.__file__ and pathlib.Path(module.__file__).is_relative_to(FIRMWARE):
                found.add(str(pathlib.Path(module.__file__).relative_to(FIRMWARE)))
    return found - {"main.py"}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys")
    signing.generate(keys / "release.pem", keys / "release.pub")
    out = tmp_path_factory.mktemp("out")
    return {p: build.build(p, keys / "release.pem", out, version="9.9.9") for p in build.PROFILES}


@pytest.mark.parametrize("profile", build.PROFILES)
def test_the_manifest_freezes_exactly_what_the_profile_imports(bundles, profile):
    frozen = bundles[profile] / "frozen"
    calls = ManifestCalls(frozen).run((frozen / "manifest.py").read_text())
    assert calls.includes == ["$(MPY_DIR)/ports/esp32/boards/manifest.py"]   # the port's own first
    expected = imported_by(profile) - set(build.BOOT_FILES)     # main.py and boot_select.py stay files
    assert set(calls.files) == expected
    assert "core/version.py" in expected
    assert ("core/ota.py" in expected) == (profile != "basic_box")     # updated over the air or not
    assert calls.opts == {build.MPY_OPT}                        # as the OTA bundle's .mpy files
    # every profile with a voice and a network announces payments, over MQTT where the acquirer has a broker
    assert calls.requires == ([] if profile == "basic_box" else ["umqtt.simple"])
    for rel, path in calls.files.items():
        if rel == "core/version.py":
            assert path.read_text().endswith("VERSION = '9.9.9'\n")  # the version it was built as
        else:
            assert path.read_bytes() == (FIRMWARE / rel).read_bytes(), rel


def test_a_board_that_takes_the_box_helpers_carries_the_box_board(bundles):
    # the gun and the stand build their TLS context with boards/enhanced_box.py's tls_context
    for profile in ("handheld_gun", "qr_stand"):
        assert "boards/enhanced_box.mpy" in (bundles[profile] / "manifest.json").read_text()
        assert "enhanced_box.py" in (bundles[profile] / "frozen" / "manifest.py").read_text()
    assert "enhanced_box" not in (bundles["basic_box"] / "frozen" / "manifest.py").read_text()
    assert "qr_stand" not in (bundles["handheld_gun"] / "frozen" / "manifest.py").read_text()
