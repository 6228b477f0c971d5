"""The POS cashier screen, drawn as the cashier PC shows it: a header, the items rung up, and the
total field the host agent reads with OCR. Several fonts, sizes, themes and currency formats, so the
reader is tested on screens that look like the ones shops run.

    style = ScreenStyle(font="dejavu-sans", size=28, theme="dark", fmt="label_zh")
    shot = render_screen(style, 123450)
    shot.image.crop(shot.region_box)     # what a calibrated agent grabs

Fonts come from Debian packages (`make test` installs them): fonts-dejavu-core, fonts-liberation2,
fonts-wqy-microhei. A missing one is an error naming the package, never a silent fallback.
"""
import functools
import os
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

SCREEN_SIZE = (1024, 768)

# name -> (path, Debian package)
FONTS = {
    "dejavu-sans": ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    "dejavu-sans-bold": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "dejavu-mono": ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core"),
    "dejavu-serif": ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "fonts-dejavu-core"),
    "liberation-sans": ("/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
                        "fonts-liberation2"),
    "liberation-sans-bold": ("/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
                             "fonts-liberation2"),
    "liberation-mono": ("/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
                        "fonts-liberation2"),
    "wqy-microhei": ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "fonts-wqy-microhei"),
}
CJK_FONT = "wqy-microhei"       # Chinese labels are drawn in it, as Windows links a CJK font in
FONT_PACKAGES = sorted({package for _, package in FONTS.values()})

# background, text, total-field background, total text
THEMES = {
    "light": ((255, 255, 255), (30, 30, 30), (245, 245, 245), (0, 0, 0)),
    "dark": ((24, 26, 32), (200, 200, 200), (0, 0, 0), (60, 230, 90)),
    "blue": ((16, 60, 130), (230, 230, 230), (8, 36, 90), (255, 220, 40)),
    "grey": ((212, 208, 200), (0, 0, 0), (255, 255, 255), (200, 0, 0)),     # the classic Windows look
    "green": ((230, 245, 230), (20, 60, 20), (255, 255, 255), (0, 100, 0)),
}

# how the total field writes 1234.50
FORMATS = {
    "yen_comma": lambda y: "¥" + _commas(y),              # ¥1,234.50
    "yen_plain": lambda y: "¥" + y,                       # ¥1234.50
    "fullwidth_yen": lambda y: "￥" + _commas(y),          # ￥1,234.50 (Chinese input methods)
    "label_zh": lambda y: "应收 " + y,                     # 应收 1234.50
    "label_zh_yen": lambda y: "合计：¥" + _commas(y),       # 合计：¥1,234.50
    "label_en": lambda y: "TOTAL " + y,                   # TOTAL 1234.50
    "label_en_colon": lambda y: "TOTAL: " + _commas(y),   # TOTAL: 1,234.50
    "plain": lambda y: y,                                 # 1234.50
}


def _commas(yuan_text):
    whole, _, cents = yuan_text.partition(".")
    return "{:,}".format(int(whole)) + "." + cents


def yuan(amount_fen):
    return "%d.%02d" % divmod(amount_fen, 100)


def total_text(fmt, amount_fen):
    return FORMATS[fmt](yuan(amount_fen))


class MissingFont(RuntimeError):
    pass


@functools.lru_cache(maxsize=64)
def font(name, size):
    path, package = FONTS[name]
    if not os.path.exists(path):
        raise MissingFont("font %s (%s) is missing: install the Debian package %s" % (name, path, package))
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class ScreenStyle:
    font: str = "dejavu-sans"
    size: int = 28              # pixel size of the total's digits
    theme: str = "light"
    fmt: str = "yen_comma"
    align: str = "right"        # where the total sits in its field


@dataclass
class Shot:
    image: object               # the whole screen, PIL RGB
    region: tuple               # (left, top, width, height) of the total field: what calibration picks
    amount_fen: object
    text: str

    @property
    def region_box(self):
        left, top, width, height = self.region
        return (left, top, left + width, top + height)


def total_region(style):
    """Where the total field is on this POS's screen (fixed per layout; calibrated once)."""
    height = int(style.size * 1.7)
    width = max(260, int(style.size * 10.5))
    return (SCREEN_SIZE[0] - width - 40, SCREEN_SIZE[1] - height - 60, width, height)


def _draw_runs(draw, xy, text, style, fill):
    """Draw `text` with CJK characters in the CJK font, the rest in the style's font."""
    x, y = xy
    main, cjk = font(style.font, style.size), font(CJK_FONT, style.size)
    runs, current, current_cjk = [], "", None
    for ch in text:
        is_cjk = ord(ch) > 0x2E7F      # CJK, full-width forms ('￥', '：')
        if current and is_cjk != current_cjk:
            runs.append((current, current_cjk))
            current = ""
        current, current_cjk = current + ch, is_cjk
    if current:
        runs.append((current, current_cjk))
    for run, is_cjk in runs:
        face = cjk if is_cjk else main
        draw.text((x, y), run, font=face, fill=fill)
        x += draw.textlength(run, font=face)
    return x


def _text_width(draw, text, style):
    image = Image.new("L", (1, 1))
    return _draw_runs(ImageDraw.Draw(image), (0, 0), text, style, 0)


def render_screen(style, amount_fen, items=(), shop="便利店 POS"):
    """The whole cashier screen with `amount_fen` in the total field (None: an empty field)."""
    background, ink, field_bg, field_ink = THEMES[style.theme]
    image = Image.new("RGB", SCREEN_SIZE, background)
    draw = ImageDraw.Draw(image)
    small = font(CJK_FONT, 20)
    draw.rectangle((0, 0, SCREEN_SIZE[0], 48), fill=field_bg)
    draw.text((16, 12), shop, font=small, fill=field_ink)
    for row, (name, price_fen) in enumerate(items[:16]):
        y = 70 + row * 30
        draw.text((40, y), name, font=small, fill=ink)
        draw.text((SCREEN_SIZE[0] - 200, y), yuan(price_fen), font=small, fill=ink)
    left, top, width, height = total_region(style)
    draw.rectangle((left, top, left + width, top + height), fill=field_bg)
    text = total_text(style.fmt, amount_fen) if amount_fen is not None else ""
    if text:
        text_width = _text_width(draw, text, style)
        x = left + width - text_width - style.size // 2 if style.align == "right" else left + style.size // 2
        y = top + (height - style.size) // 2 - style.size // 8
        _draw_runs(draw, (x, y), text, style, field_ink)
    return Shot(image, (left, top, width, height), amount_fen, text)


def random_style(rng):
    return ScreenStyle(font=rng.choice(sorted(FONTS)), size=rng.choice((20, 22, 24, 28, 32, 36, 40)),
                       theme=rng.choice(sorted(THEMES)), fmt=rng.choice(sorted(FORMATS)),
                       align=rng.choice(("right", "left")))


def random_amount(rng):
    """Amounts as shops see them: mostly a few yuan to a few hundred, some over a thousand."""
    digits = rng.choice((1, 2, 3, 3, 4, 4, 5, 6))
    amount_fen = rng.randint(10 ** (digits - 1), 10 ** digits - 1)
    if rng.random() < 0.3:
        amount_fen -= amount_fen % 10       # a price like 12.50
    return max(1, amount_fen)


def corpus(count, seed=6):
    """`count` different cashier screens (reproducible for one seed): (style, amount_fen)."""
    rng = random.Random(seed)
    return [(random_style(rng), random_amount(rng)) for _ in range(count)]


def items_for(amount_fen, rng=None):
    """A plausible list of items adding up to the total (for the screen's item list)."""
    rng = rng or random.Random(amount_fen)
    names = ["矿泉水", "方便面", "牛奶", "面包", "香烟", "口香糖", "可乐", "鸡蛋"]
    items, left = [], amount_fen
    while left > 0 and len(items) < 5:
        price = left if len(items) == 4 else rng.randint(1, left)
        items.append((rng.choice(names), price))
        left -= price
    return items
