"""The POS cashier screen, drawn as the cashier PC shows it: a header, the items rung up, and the
total field the host agent reads with OCR. Several fonts (ordinary, seven-segment, LED dot-matrix),
sizes, themes, labels and currency formats, so the reader is tested on screens that look like the
ones shops run; `hw_sim.pos.ocr_corpus` turns them into grabbed regions with margins, scaling, blur
and JPEG artefacts.

    style = ScreenStyle(font="dejavu-sans", size=28, theme="dark", fmt="label_zh")
    shot = render_screen(style, 123450)
    shot.image.crop(shot.region_box)     # what a calibrated agent grabs

Fonts come from Debian packages (`make setup` installs them): fonts-dejavu-core, fonts-liberation2,
fonts-wqy-microhei, fonts-dseg (seven- and fourteen-segment). LED dot-matrix lettering is drawn by
`hw_sim.pos.dot_matrix`. A missing font is an error naming the package, never a silent fallback.
"""
import functools
import os
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from hw_sim.pos.dot_matrix import DotFace

SCREEN_SIZE = (1024, 768)

_DEJAVU = "/usr/share/fonts/truetype/dejavu/"
_LIBERATION = "/usr/share/fonts/truetype/liberation2/"
_DSEG = "/usr/share/fonts/truetype/dseg/"

# name -> (path, Debian package)
FONTS = {
    "dejavu-sans": (_DEJAVU + "DejaVuSans.ttf", "fonts-dejavu-core"),
    "dejavu-sans-bold": (_DEJAVU + "DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "dejavu-sans-condensed": (_DEJAVU + "DejaVuSansCondensed.ttf", "fonts-dejavu-core"),
    "dejavu-mono": (_DEJAVU + "DejaVuSansMono.ttf", "fonts-dejavu-core"),
    "dejavu-serif": (_DEJAVU + "DejaVuSerif.ttf", "fonts-dejavu-core"),
    "liberation-sans": (_LIBERATION + "LiberationSans-Regular.ttf", "fonts-liberation2"),
    "liberation-sans-bold": (_LIBERATION + "LiberationSans-Bold.ttf", "fonts-liberation2"),
    "liberation-mono": (_LIBERATION + "LiberationMono-Regular.ttf", "fonts-liberation2"),
    "liberation-serif": (_LIBERATION + "LiberationSerif-Regular.ttf", "fonts-liberation2"),
    "wqy-microhei": ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "fonts-wqy-microhei"),
    # seven- and fourteen-segment: the decimal point is a separate dot of no width of its own
    "dseg7-classic": (_DSEG + "DSEG7Classic-Regular.ttf", "fonts-dseg"),
    "dseg7-classic-bold": (_DSEG + "DSEG7Classic-Bold.ttf", "fonts-dseg"),
    "dseg7-classic-italic": (_DSEG + "DSEG7Classic-Italic.ttf", "fonts-dseg"),
    "dseg7-classic-mini": (_DSEG + "DSEG7ClassicMini-Regular.ttf", "fonts-dseg"),
    "dseg7-modern": (_DSEG + "DSEG7Modern-Regular.ttf", "fonts-dseg"),
    "dseg7-modern-bolditalic": (_DSEG + "DSEG7Modern-BoldItalic.ttf", "fonts-dseg"),
    "dseg14-classic": (_DSEG + "DSEG14Classic-Regular.ttf", "fonts-dseg"),
}
DOT_FONTS = {"led-round": "round", "led-square": "square"}      # drawn, no package
CJK_FONT = "wqy-microhei"       # Chinese labels are drawn in it, as Windows links a CJK font in
FONT_PACKAGES = sorted({package for _, package in FONTS.values()})


def is_segment_font(name):
    return name.startswith("dseg")


# background, text, total-field background, total text
THEMES = {
    "light": ((255, 255, 255), (30, 30, 30), (245, 245, 245), (0, 0, 0)),
    "dark": ((24, 26, 32), (200, 200, 200), (0, 0, 0), (60, 230, 90)),
    "blue": ((16, 60, 130), (230, 230, 230), (8, 36, 90), (255, 220, 40)),
    "grey": ((212, 208, 200), (0, 0, 0), (255, 255, 255), (200, 0, 0)),     # the classic Windows look
    "green": ((230, 245, 230), (20, 60, 20), (255, 255, 255), (0, 100, 0)),
    "lcd": ((200, 200, 195), (30, 30, 30), (158, 178, 148), (20, 30, 20)),  # a reflective LCD panel
    "amber": ((40, 40, 44), (220, 220, 220), (12, 8, 4), (255, 170, 20)),    # an amber LED panel
}


def _commas(yuan_text):
    whole, _, cents = yuan_text.partition(".")
    return "{:,}".format(int(whole)) + "." + cents


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
    "label_due": lambda y: "DUE " + y,                    # DUE 1234.50
    "label_zh_amount": lambda y: "应收金额：￥" + y,          # 应收金额：￥1234.50
    "rmb": lambda y: "RMB " + _commas(y),                 # RMB 1,234.50
    "label_en_yen": lambda y: "TOTAL ¥" + _commas(y),     # TOTAL ¥1,234.50
    "label_zh_rmb": lambda y: "合计 RMB " + y,              # 合计 RMB 1234.50
    # labels and signs kept out of tuning: the held-out part of the corpus (hw_sim.pos.ocr_corpus)
    "label_yingfu": lambda y: "应付：¥" + _commas(y),       # 应付：¥1,234.50
    "label_zongji": lambda y: "总计 " + y,                  # 总计 1234.50
    "label_amount_due": lambda y: "AMOUNT DUE " + _commas(y),
    "label_shishou": lambda y: "实收 ￥" + y,               # 实收 ￥1234.50
    "yuan_suffix": lambda y: _commas(y) + " 元",           # 1,234.50 元
}

# the field's other contents, for the layouts that hold more than the total (see ScreenStyle.layout)
SUBTOTAL_LABELS = {"zh": "小计", "en": "SUBTOTAL"}
QTY_LABELS = {"zh": "合计数量", "en": "TOTAL QTY"}
SPLIT_GAP = "\t"         # drawn as a blank 1.5 digits wide


def yuan(amount_fen):
    return "%d.%02d" % divmod(amount_fen, 100)


def total_text(fmt, amount_fen):
    return FORMATS[fmt](yuan(amount_fen))


def _language(fmt):
    text = FORMATS[fmt]("1.00")
    return "zh" if any(ord(ch) > 0x2E7F for ch in text) else "en"


class MissingFont(RuntimeError):
    pass


class _TrueType:
    def __init__(self, face):
        self.face = face

    def length(self, text):
        return self.face.getlength(text)

    def draw(self, draw, xy, text, fill):
        draw.text(xy, text, font=self.face, fill=fill, anchor="ls")
        return xy[0] + self.face.getlength(text)


@functools.lru_cache(maxsize=128)
def font(name, size, unlit=None):
    """The face called `name` at `size` pixels: .length(text), .draw(draw, (x, baseline), text, fill)."""
    if name in DOT_FONTS:
        return DotFace(DOT_FONTS[name], size, unlit)
    path, package = FONTS[name]
    if not os.path.exists(path):
        raise MissingFont("font %s (%s) is missing: install the Debian package %s" % (name, path, package))
    return _TrueType(ImageFont.truetype(path, size))


@dataclass(frozen=True)
class ScreenStyle:
    font: str = "dejavu-sans"
    size: int = 28              # pixel size of the total's digits
    theme: str = "light"
    fmt: str = "yen_comma"
    align: str = "right"        # where the total sits in its field
    label_font: str = ""        # the label's font when the digits are segments ("": the digits' font)
    border: bool = False        # a line round the total field
    ghost: bool = False         # segment and dot panels: the unlit segments or dots show faintly
    info: bool = False          # a line above the field: "数量 3  小计 12.00" (a margin may catch it)
    layout: str = "total"       # what the field holds, see LAYOUTS


# what the total field shows besides (or instead of) the total; the reader must take only the total
LAYOUTS = {
    "total": "the total alone",
    "subtotal_total": "a subtotal line above the total line",
    "qty_total": "'TOTAL QTY 3' / '合计数量 3' above the total line",
    "subtotal_only": "a subtotal alone: no total on the screen",
    "two_totals": "two totals with different amounts",
    "split": "the total's digits split by a wide gap ('4.2   1')",
    "bad_separator": "a separator out of place ('1,23.45', '12.3.45')",
}


@dataclass
class Shot:
    image: object               # the whole screen, PIL RGB
    region: tuple               # (left, top, width, height) of the total field: what calibration picks
    amount_fen: object
    text: str                   # what the field shows, lines joined by " / "
    text_box: tuple = None      # (left, top, right, bottom) of the total line's text
    style: ScreenStyle = None

    @property
    def region_box(self):
        left, top, width, height = self.region
        return (left, top, left + width, top + height)


def field_lines(style, amount_fen):
    """What the total field shows, top to bottom."""
    if amount_fen is None:
        return []
    fmt, layout = style.fmt, style.layout
    lang = _language(fmt)
    total = total_text(fmt, amount_fen)
    if layout == "total":
        return [total]
    other_fen = amount_fen + 100 + amount_fen // 10     # before a discount: never the total
    if layout == "subtotal_total":
        return ["%s %s" % (SUBTOTAL_LABELS[lang], yuan(other_fen)), total]
    if layout == "qty_total":
        return ["%s %d" % (QTY_LABELS[lang], 1 + amount_fen % 9), total]
    if layout == "subtotal_only":
        return ["%s %s" % (SUBTOTAL_LABELS[lang], yuan(amount_fen))]
    if layout == "two_totals":
        return ["应收 %s" % yuan(other_fen) if lang == "zh" else "TOTAL %s" % yuan(other_fen), total]
    whole, cents = yuan(amount_fen).split(".")
    if layout == "split":       # a gap inside the digits (SPLIT_GAP wide)
        number = "%s.%s%s%s" % (whole, cents[0], SPLIT_GAP, cents[1])
    elif layout == "bad_separator":
        # segment fonts draw no commas: they get the second point
        if amount_fen % 2 and not is_segment_font(style.font):
            number = "%s,%s.%s" % (whole[:-1] or "0", whole[-1], cents)
        else:
            number = "%s.%s.%s" % (whole, cents[0], cents[1:] + "0")
    else:
        raise ValueError("unknown layout %r" % layout)
    return [total.replace(_number_in(total), number)]


def _number_in(text):
    start = next(i for i, ch in enumerate(text) if ch.isdigit())
    end = start
    while end < len(text) and (text[end].isdigit() or text[end] in ".,"):
        end += 1
    return text[start:end]


def total_region(style):
    """Where the total field is on this POS's screen (fixed per layout; calibrated once): room for
    the longest total the shop rings up (9,999.99) and half a digit either side."""
    lines = 1 if style.layout in ("total", "subtotal_only", "split", "bad_separator") else 2
    height = int(style.size * 1.7) + (lines - 1) * int(style.size * 1.25)
    _, _, field_bg, field_ink = THEMES[style.theme]
    longest = max(draw_line(None, 0, 0, text, style, style.size, (field_bg, field_ink), measure_only=True)
                  for text in field_lines(style, 999999))
    width = max(260, int(style.size * 10.5), int(longest + style.size * 1.5))
    return (SCREEN_SIZE[0] - width - 40, SCREEN_SIZE[1] - height - 60, width, height)


def _blend(a, b, share):
    return tuple(int(x + (y - x) * share) for x, y in zip(a, b))


def _runs(text, style):
    """Split `text` into (run, face name): Chinese in the CJK font, digits in the style's font, the
    rest in the label font (segment fonts have no letters worth reading, nor ¥)."""
    digits_font = style.font
    if digits_font in DOT_FONTS:
        return [(text, digits_font)]
    label_font = style.label_font or (digits_font if not is_segment_font(digits_font) else "dejavu-sans-bold")
    runs = []
    for ch in text:
        if ord(ch) > 0x2E7F:
            name = CJK_FONT
        elif ch.isdigit() or (ch in ".," and runs and runs[-1][1] == digits_font):
            name = digits_font
        elif ch == " " and runs:
            name = runs[-1][1]
        else:
            name = label_font
        if runs and runs[-1][1] == name:
            runs[-1] = (runs[-1][0] + ch, name)
        else:
            runs.append((ch, name))
    return runs


def _line_faces(style, colours):
    field_bg, field_ink = colours
    unlit = _blend(field_bg, field_ink, 0.14) if style.ghost and style.font in DOT_FONTS else None
    return lambda name, size: font(name, size, unlit if name in DOT_FONTS else None)


def draw_line(draw, x, baseline, text, style, size, colours, measure_only=False):
    """Draw one line of the field at (x, baseline) in colours (field background, text); returns its
    width (only that, with measure_only)."""
    faces = _line_faces(style, colours)
    start = x
    for part, piece in enumerate(text.split(SPLIT_GAP)):
        if part:
            x += size * 1.5
        x += _draw_runs(draw, x, baseline, piece, style, size, colours, faces, measure_only)
    return x - start


def _draw_runs(draw, x, baseline, text, style, size, colours, faces, measure_only):
    start = x
    for run, name in _runs(text, style):
        if is_segment_font(name):
            run = run.replace(",", "")          # segment displays have no thousands separator
        face = faces(name, size)
        if measure_only:
            x += face.length(run)
            continue
        if style.ghost and is_segment_font(name):
            ghost = "".join("8." if ch.isdigit() else ch for ch in run.replace(".", ""))
            face.draw(draw, (x, baseline), ghost, _blend(colours[0], colours[1], 0.16))
        x = face.draw(draw, (x, baseline), run, colours[1])
    return x - start


def render_screen(style, amount_fen, items=(), shop="便利店 POS"):
    """The whole cashier screen with `amount_fen` in the total field (None: an empty field)."""
    background, ink, field_bg, field_ink = THEMES[style.theme]
    image = Image.new("RGB", SCREEN_SIZE, background)
    draw = ImageDraw.Draw(image)
    small = ImageFont.truetype(FONTS[CJK_FONT][0], 20)
    draw.rectangle((0, 0, SCREEN_SIZE[0], 48), fill=field_bg)
    draw.text((16, 12), shop, font=small, fill=field_ink)
    for row, (name, price_fen) in enumerate(items[:16]):
        y = 70 + row * 30
        draw.text((40, y), name, font=small, fill=ink)
        draw.text((SCREEN_SIZE[0] - 200, y), yuan(price_fen), font=small, fill=ink)
    left, top, width, height = total_region(style)
    if style.info and amount_fen is not None:
        count = 1 + amount_fen % 7
        info = "数量 %d   小计 %s" % (count, yuan(amount_fen + 100 * count))
        draw.text((left + 8, top - 10), info, font=small, fill=ink, anchor="ls")
    draw.rectangle((left, top, left + width - 1, top + height - 1), fill=field_bg,
                   outline=field_ink if style.border else None, width=2)
    lines = field_lines(style, amount_fen)
    text_box = None
    line_pitch = int(style.size * 1.25)
    for number, text in enumerate(lines):
        last = number == len(lines) - 1
        size = style.size if last else max(16, int(style.size * 0.8))
        text_width = draw_line(draw, 0, 0, text, style, size, (field_bg, field_ink), measure_only=True)
        pad = style.size // 2
        x = left + width - text_width - pad if style.align == "right" else left + pad
        baseline = top + height - int(style.size * 0.45) - (len(lines) - 1 - number) * line_pitch
        draw_line(draw, x, baseline, text, style, size, (field_bg, field_ink))
        if last:
            text_box = (int(x), baseline - size, int(x + text_width), baseline + size // 4)
    return Shot(image, (left, top, width, height), amount_fen, " / ".join(lines), text_box, style)


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
