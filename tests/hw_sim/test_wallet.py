"""The wallet makes codes the channels accept and shows them so a real barcode reader gets them back."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyzbar import pyzbar

from hw_sim import test_codes
from hw_sim.wallet import (
    ALIPAY, UNIONPAY, WECHAT, Wallet, WalletError, is_valid_code, make_alipay_code, make_code,
    make_unionpay_code, mask_code, render_payment_screen,
)

CHANNELS = (WECHAT, ALIPAY, UNIONPAY)


def _symbols(image):
    return {symbol.type: symbol.data.decode("ascii") for symbol in pyzbar.decode(image)}


# --- codes follow shared/reference/channels.md, checked here by hand, not through CODE_RULES ---
def _follows_channel_rules(code, channel):
    if not (code.isascii() and code.isdigit()):
        return False
    if channel == WECHAT:
        return len(code) == 18 and 10 <= int(code[:2]) <= 15
    if channel == ALIPAY:
        return 16 <= len(code) <= 24 and 25 <= int(code[:2]) <= 30
    return len(code) == 19 and code.startswith("62")


@given(scenario=st.sampled_from(sorted(test_codes.SCENARIOS)), param=st.integers(0, 99))
def test_wechat_codes_are_valid_and_carry_the_sandbox_scenario(scenario, param):
    code = Wallet(WECHAT).new_code(scenario, param)
    assert _follows_channel_rules(code, WECHAT)
    assert is_valid_code(code, WECHAT)
    assert test_codes.scenario_of(code) == (test_codes.SCENARIOS[scenario], param)


@given(length=st.integers(16, 24))
def test_alipay_codes_of_every_allowed_length_are_valid(length):
    code = make_alipay_code(length)
    assert len(code) == length
    assert _follows_channel_rules(code, ALIPAY)
    assert is_valid_code(code, ALIPAY)


@settings(max_examples=30)
@given(st.data())
def test_default_codes_of_each_channel_are_valid_and_fresh(data):
    channel = data.draw(st.sampled_from(CHANNELS))
    first, second = make_code(channel), make_code(channel)
    assert _follows_channel_rules(first, channel) and is_valid_code(first, channel)
    assert first != second     # one-time tokens: 12+ random digits never repeat in practice


def test_unionpay_code_is_19_digits_prefix_62():
    code = make_unionpay_code()
    assert len(code) == 19 and code.startswith("62") and code.isdigit()


@given(text=st.text(max_size=30), channel=st.sampled_from(CHANNELS))
def test_is_valid_code_agrees_with_the_channel_rules(text, channel):
    assert is_valid_code(text, channel) == _follows_channel_rules(text, channel)


@pytest.mark.parametrize("code, channel", [
    ("160000000000000000", WECHAT),          # JD-like prefix 16: not WeChat
    ("13000000000000000", WECHAT),           # 17 digits
    ("13000000000000000X", WECHAT),          # not all digits (jeepay forgets to check)
    ("１３0000000000000000", WECHAT),        # full-width digits pass str.isdigit()
    ("31000000000000000", ALIPAY),
    ("2800000000000000000000000", ALIPAY),   # 25 digits
    ("6200000000000000000", ALIPAY),
    ("620000000000000000", UNIONPAY),        # 18 digits
    ("130000000000000000", "bitcoin"),
])
def test_is_valid_code_rejects(code, channel):
    assert not is_valid_code(code, channel)


def test_only_wechat_codes_carry_a_scenario():
    with pytest.raises(WalletError):
        make_code(ALIPAY, test_codes.EXPIRED)
    with pytest.raises(WalletError):
        Wallet("paypal")
    with pytest.raises(WalletError):
        make_alipay_code(25)


def test_mask_shows_only_the_ends():
    code = "134500123456786789"
    assert mask_code(code) == "1345 **** **** 6789"
    assert "0012345" not in mask_code(code)


# --- the screen -------------------------------------------------------------------------------
@pytest.mark.parametrize("channel", CHANNELS)
def test_payment_screen_decodes_back_to_the_code_in_both_symbols(channel):
    wallet = Wallet(channel)
    image = wallet.screen()
    assert wallet.code and is_valid_code(wallet.code, channel)
    assert image.width < image.height                  # a phone held upright
    assert _symbols(image) == {"CODE128": wallet.code, "QRCODE": wallet.code}


@settings(max_examples=9, deadline=None)
@given(length=st.integers(16, 24))
def test_alipay_codes_of_every_length_decode_from_the_screen(length):
    code = make_alipay_code(length)
    assert _symbols(render_payment_screen(code, ALIPAY)) == {"CODE128": code, "QRCODE": code}


def test_a_smaller_screen_still_decodes():
    code = make_code(WECHAT)
    image = render_payment_screen(code, WECHAT, size=(480, 854))
    assert image.size == (480, 854)
    assert _symbols(image) == {"CODE128": code, "QRCODE": code}


def test_screens_wear_the_wallet_colour():
    code = make_code(WECHAT)
    colours = {ch: render_payment_screen(code, ch).getpixel((5, 300)) for ch in CHANNELS}
    assert len(set(colours.values())) == 3
    assert colours[WECHAT][1] > colours[WECHAT][0]     # green
    assert colours[ALIPAY][2] > colours[ALIPAY][0]     # blue
    assert colours[UNIONPAY][0] > colours[UNIONPAY][2]  # red


def test_new_code_changes_what_the_screen_shows():
    wallet = Wallet(WECHAT)
    first = wallet.new_code()
    second = wallet.new_code(test_codes.PASSWORD, 12)
    assert first != second
    assert _symbols(wallet.screen())["QRCODE"] == second


def test_every_scenario_is_in_the_integrators_table():
    """docs/sandbox.md (the Sandbox page) lists every sandbox scenario with its two digits."""
    import pathlib
    import re
    page = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text("utf-8")
    table = dict(re.findall(r"^\| `(\d\d)` \| ([a-z_]+) \|", page, re.M))
    assert table == test_codes.SCENARIOS
