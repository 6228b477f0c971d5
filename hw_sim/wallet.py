"""A customer's wallet app: makes one-time payment codes and draws the payment-code screen.

The screen is what the cashier's scan engine sees: a phone in portrait with the wallet's colours, a
Code128 barcode and a QR code of the same code, and the code in text with the middle masked, as the
wallets show it. `hw_sim.scan_engine` decodes these images with a real barcode reader.

WeChat codes come from `hw_sim.test_codes`, so the WeChat sandbox reads the test scenario back from
the code. Alipay and UnionPay codes are random but follow the channels' length and prefix rules.
"""
import functools
import os
import secrets

import segno
from barcode.codex import Code128
from PIL import Image, ImageDraw, ImageFont

from hw_sim import test_codes

WECHAT = "wechat"
ALIPAY = "alipay"
UNIONPAY = "unionpay"

# What a valid code looks like per channel (shared/reference/channels.md section 1), as data so a new
# prefix is a one-line change. prefixes are two-digit strings; lengths the allowed digit counts.
CODE_RULES = {
    WECHAT: {"prefixes": tuple(str(p) for p in range(10, 16)), "lengths": (18,)},
    ALIPAY: {"prefixes": tuple(str(p) for p in range(25, 31)), "lengths": tuple(range(16, 25))},
    UNIONPAY: {"prefixes": ("62",), "lengths": (19,)},
}

# Alipay's payment codes in the wild are mostly 18 digits; any length 16-24 is valid.
ALIPAY_DEFAULT_LENGTH = 18

# How each wallet dresses its payment-code page. The Chinese labels are used only when a CJK font is
# installed; a fresh Debian has none, and the symbols (what the scanner reads) never depend on it.
STYLES = {
    WECHAT: {"colour": (7, 193, 96), "name_zh": "微信支付", "name_en": "WeChat Pay"},
    ALIPAY: {"colour": (22, 119, 255), "name_zh": "支付宝", "name_en": "Alipay"},
    UNIONPAY: {"colour": (230, 0, 18), "name_zh": "云闪付", "name_en": "UnionPay QuickPass"},
}
TITLE_ZH, TITLE_EN = "向商家付款", "Pay the merchant"
FOOTER_ZH, FOOTER_EN = "付款码每分钟自动更新", "The code refreshes every minute"

SCREEN_SIZE = (720, 1280)       # a common phone resolution, portrait
BARCODE_QUIET_MODULES = 10      # Code128 needs 10 modules of white either side to be found
QR_BORDER_MODULES = 4           # QR's quiet zone

_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_LATIN_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


class WalletError(ValueError):
    pass


# --- codes ------------------------------------------------------------------------------------
def _random_digits(n):
    return "".join(secrets.choice("0123456789") for _ in range(n))


def make_alipay_code(length=ALIPAY_DEFAULT_LENGTH):
    if length not in CODE_RULES[ALIPAY]["lengths"]:
        raise WalletError("Alipay codes are 16-24 digits, not %d" % length)
    return secrets.choice(CODE_RULES[ALIPAY]["prefixes"]) + _random_digits(length - 2)


def make_unionpay_code():
    return "62" + _random_digits(17)


def make_code(channel, scenario=test_codes.SUCCESS, param=0):
    """A fresh payment code for `channel`; for WeChat the sandbox scenario is encoded in it."""
    if channel == WECHAT:
        return test_codes.make_wechat_code(scenario, param)
    if channel not in CODE_RULES:
        raise WalletError("unknown channel %r" % channel)
    # Only the WeChat sandbox reads a scenario from the code so far: refuse rather than ignore one.
    if scenario != test_codes.SUCCESS or param:
        raise WalletError("%s codes carry no sandbox scenario" % channel)
    return make_alipay_code() if channel == ALIPAY else make_unionpay_code()


def is_valid_code(code, channel):
    rule = CODE_RULES.get(channel)
    return bool(
        rule
        and code.isascii()
        and code.isdigit()
        and len(code) in rule["lengths"]
        and code[:2] in rule["prefixes"]
    )


def mask_code(code):
    """The code as the wallet prints it under the barcode: first and last four digits only."""
    return "%s **** **** %s" % (code[:4], code[-4:])


# --- drawing ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _font_path(cjk):
    for path in _CJK_FONTS if cjk else _LATIN_FONTS:
        if os.path.exists(path):
            return path
    return None


@functools.lru_cache(maxsize=None)
def _font(size, cjk=False):
    path = _font_path(cjk)
    if path:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)   # Pillow's bundled font: Latin only


def _label(zh, en):
    """(text, font-is-CJK): Chinese when a CJK font is installed, else English."""
    return (zh, True) if _font_path(True) else (en, False)


def _symbol_image(rows, module_px, height_px=None):
    """Black-on-white image of a module matrix (rows of 0/1), each module `module_px` square."""
    width = len(rows[0])
    raw = bytes(0 if dark else 255 for row in rows for dark in row)
    small = Image.frombytes("L", (width, len(rows)), raw)
    return small.resize((width * module_px, height_px or len(rows) * module_px), Image.NEAREST)


def barcode_image(code, module_px, height_px):
    """Code128 of `code` with its quiet zones (python-barcode picks the code sets)."""
    modules = Code128(code).build()[0]
    quiet = "0" * BARCODE_QUIET_MODULES
    return _symbol_image([[m == "1" for m in quiet + modules + quiet]], module_px, height_px)


def barcode_modules(code):
    return len(Code128(code).build()[0]) + 2 * BARCODE_QUIET_MODULES


def qr_image(code, target_px):
    qr = segno.make_qr(code, error="m")
    rows = [[bool(v) for v in row] for row in qr.matrix_iter(scale=1, border=QR_BORDER_MODULES)]
    return _symbol_image(rows, max(1, target_px // len(rows)))


def _centred_text(draw, y, text, font, fill, width):
    left, _top, right, _bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (right - left)) // 2, y), text, font=font, fill=fill)


def render_payment_screen(code, channel, *, size=SCREEN_SIZE):
    """The wallet's payment-code page showing `code`, as an RGB phone screenshot."""
    if channel not in STYLES:
        raise WalletError("unknown channel %r" % channel)
    style = STYLES[channel]
    width, height = size
    u = width / 720                     # layout is drawn for 720 px wide and scaled
    colour = style["colour"]
    dark = tuple(c * 3 // 4 for c in colour)

    screen = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(screen)

    # status bar and app bar
    draw.rectangle((0, 0, width, int(48 * u)), fill=dark)
    draw.text((int(24 * u), int(10 * u)), "9:41", font=_font(int(26 * u)), fill="white")
    name, cjk = _label(style["name_zh"], style["name_en"])
    _centred_text(draw, int(76 * u), name, _font(int(44 * u), cjk), "white", width)

    # the white card that holds the codes: its white is the symbols' quiet zone
    margin = int(32 * u)
    card_top, card_bottom = int(180 * u), height - int(100 * u)
    draw.rounded_rectangle((margin, card_top, width - margin, card_bottom), int(24 * u), fill="white")
    title, cjk = _label(TITLE_ZH, TITLE_EN)
    _centred_text(draw, card_top + int(30 * u), title, _font(int(34 * u), cjk), (60, 60, 60), width)
    line_y = card_top + int(96 * u)
    draw.line((margin, line_y, width - margin, line_y), fill=(230, 230, 230), width=max(1, int(2 * u)))

    # barcode: the widest whole-pixel module that fits the card, at least 2 px so zbar finds it
    module_px = max(2, (width - 2 * margin) // barcode_modules(code))
    bars = barcode_image(code, module_px, int(190 * u))
    y = line_y + int(40 * u)
    screen.paste(bars, ((width - bars.width) // 2, y))
    y += bars.height + int(20 * u)
    _centred_text(draw, y, mask_code(code), _font(int(32 * u)), (40, 40, 40), width)

    qr = qr_image(code, int(420 * u))
    y += int(70 * u)
    screen.paste(qr, ((width - qr.width) // 2, y))

    footer, cjk = _label(FOOTER_ZH, FOOTER_EN)
    _centred_text(draw, card_bottom - int(60 * u), footer, _font(int(24 * u), cjk), (150, 150, 150), width)
    return screen


# --- the app ----------------------------------------------------------------------------------
class Wallet:
    """One customer's wallet app: `new_code()` opens the payment-code page with a fresh code."""

    def __init__(self, channel=WECHAT, *, screen_size=SCREEN_SIZE):
        if channel not in CODE_RULES:
            raise WalletError("unknown channel %r" % channel)
        self.channel = channel
        self.screen_size = screen_size
        self.code = None

    def new_code(self, scenario=test_codes.SUCCESS, param=0):
        self.code = make_code(self.channel, scenario, param)
        return self.code

    def screen(self, code=None):
        """The payment-code page for `code` (default: the current code, making one if none)."""
        if code is None:
            code = self.code or self.new_code()
        return render_payment_screen(code, self.channel, size=self.screen_size)
