"""The screen-OCR corpus: total fields of generated cashier screens, grabbed as a calibrated agent
grabs them, and what a right reader makes of each.

    for sample in corpus(300, seed=1):
        reading = reader.read(sample.image())
        ok = reading.amount_fen == sample.expected_fen      # None: the screen must not be read

A sample is a screen style (`hw_sim.pos.screen.ScreenStyle`: font, size, theme, currency format,
layout), the total shown, and how the region was grabbed (`Grab`: a margin of the screen round the
field, display scaling, blur, JPEG artefacts). Some layouts hold a trap: a subtotal, two totals, split
digits, a misplaced separator, a region that cuts through the number: those must give no reading (or,
where the total is labelled, the total).

Two palettes. TUNING is what the reader was tuned on. HELD_OUT (`corpus(..., held_out=True)`, other
seeds) draws half its choices from fonts, themes and labels never used in tuning: HELD_OUT_ONLY.
"""
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from hw_sim.pos.screen import (DOT_FONTS, ScreenStyle, draw_line, field_lines, is_segment_font, items_for,
                               render_screen)


@dataclass(frozen=True)
class Palette:
    fonts: tuple
    themes: tuple
    formats: tuple
    label_fonts: tuple          # labels beside segment digits


TUNING = Palette(
    fonts=("dejavu-sans", "dejavu-sans-bold", "dejavu-mono", "dejavu-serif", "liberation-sans",
           "liberation-sans-bold", "liberation-mono", "wqy-microhei", "dseg7-classic", "dseg7-classic-bold",
           "dseg7-classic-italic", "dseg7-modern", "dseg14-classic", "led-round"),
    themes=("light", "dark", "blue", "grey", "green", "lcd"),
    formats=("yen_comma", "yen_plain", "fullwidth_yen", "label_zh", "label_zh_yen", "label_en",
             "label_en_colon", "plain", "label_due", "label_zh_amount", "rmb", "label_en_yen", "label_zh_rmb"),
    label_fonts=("dejavu-sans-bold", "liberation-sans", "dseg14-classic"),
)

HELD_OUT_ONLY = Palette(
    fonts=("liberation-serif", "dejavu-sans-condensed", "dseg7-modern-bolditalic", "dseg7-classic-mini",
           "led-square"),
    themes=("amber",),
    formats=("label_yingfu", "label_zongji", "label_amount_due", "label_shishou", "yuan_suffix"),
    label_fonts=("liberation-serif",),
)

# the traps (screen.LAYOUTS, and a region cutting through the number) and what a right reader
# returns: "total", the total; None, no reading. TRAP_SHARE of the samples hold one.
TRAPS = {
    "subtotal_total": "total", "qty_total": "total", "subtotal_only": None, "two_totals": None,
    "split": None, "bad_separator": None, "cut": None,
}
TRAP_SHARE = 0.12
_LABELLED = ("label_zh", "label_zh_yen", "label_en", "label_en_colon", "label_due", "label_zh_amount",
             "label_en_yen", "label_zh_rmb", "label_yingfu", "label_zongji", "label_amount_due", "label_shishou")
_CUTTABLE = ("yen_comma", "yen_plain", "fullwidth_yen", "plain", "rmb", "yuan_suffix")


@dataclass(frozen=True)
class Grab:
    """How the agent's grab of the region differs from the bare field."""
    margin: tuple = (0, 0, 0, 0)    # screen pixels round the field (left, top, right, bottom)
    scale: float = 1.0              # display scaling: the grab resized by this
    blur: float = 0.0               # Gaussian radius (a soft remote-desktop image)
    jpeg: int = 0                   # JPEG quality the grab went through (0: none)
    cut: bool = False               # the region's left edge cuts through the first digit


@dataclass(frozen=True)
class Sample:
    style: ScreenStyle
    amount_fen: int                 # the total the POS shows
    grab: Grab = Grab()

    @property
    def trap(self):
        """The trap the screen holds: a key of TRAPS, or ""."""
        if self.grab.cut:
            return "cut"
        return "" if self.style.layout == "total" else self.style.layout

    @property
    def expected_fen(self):
        """What a right reader returns: the total, or None where the screen must not be read."""
        if not self.trap:
            return self.amount_fen
        return self.amount_fen if TRAPS[self.trap] == "total" else None

    def shot(self):
        return render_screen(self.style, self.amount_fen, items_for(self.amount_fen))

    def image(self):
        return grab_region(self.shot(), self.grab)

    def describe(self):
        s, g = self.style, self.grab
        extras = [name for name, on in (("border", s.border), ("ghost", s.ghost), ("info", s.info)) if on]
        if g.margin != (0, 0, 0, 0):
            extras.append("margin%s" % (g.margin,))
        if g.scale != 1.0:
            extras.append("x%.2f" % g.scale)
        if g.blur:
            extras.append("blur%.1f" % g.blur)
        if g.jpeg:
            extras.append("jpeg%d" % g.jpeg)
        if g.cut:
            extras.append("cut")
        return "%s/%d/%s/%s%s%s" % (s.font, s.size, s.theme, s.fmt, "/" + self.trap if self.trap else "",
                                    " " + " ".join(extras) if extras else "")


def _first_digit_middle(shot):
    """x of the middle of the first digit's ink in the total line (the screen's coordinates)."""
    style = shot.style
    text = field_lines(style, shot.amount_fen)[-1]
    at = next(i for i, ch in enumerate(text) if ch.isdigit())
    masks = []
    for prefix in (text[:at], text[:at + 1]):
        mask = Image.new("RGB", (style.size * 30, style.size * 3), (0, 0, 0))
        draw_line(ImageDraw.Draw(mask), 0, style.size * 2, prefix, style, style.size, ((0, 0, 0), (255, 255, 255)))
        masks.append(mask.convert("L"))
    box = ImageChops.subtract(masks[1], masks[0]).getbbox()
    return shot.text_box[0] + (box[0] + box[2]) // 2


def grab_region(shot, grab):
    """The region as the agent grabs it: the field with `grab.margin` of screen round it, scaled,
    blurred and JPEG-compressed as asked."""
    left, top, right, bottom = shot.region_box
    ml, mt, mr, mb = grab.margin
    box = [left - ml, top - mt, right + mr, bottom + mb]
    if grab.cut:
        box[0] = _first_digit_middle(shot)
    image = shot.image.crop(tuple(box))
    if grab.scale != 1.0:
        size = (max(8, round(image.width * grab.scale)), max(8, round(image.height * grab.scale)))
        image = image.resize(size, Image.Resampling.BICUBIC if grab.scale > 1 else Image.Resampling.BOX)
    if grab.blur:
        image = image.filter(ImageFilter.GaussianBlur(grab.blur))
    if grab.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=grab.jpeg)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def random_amount(rng):
    """Amounts as shops see them: mostly a few yuan to a few hundred, some over a thousand."""
    digits = rng.choice((1, 2, 3, 3, 4, 4, 5, 6))
    amount_fen = rng.randint(10 ** (digits - 1), 10 ** digits - 1)
    if rng.random() < 0.3:
        amount_fen -= amount_fen % 10       # a price like 12.50
    return max(1, amount_fen)


def _pick(rng, tuning, held_out, use_held_out):
    return rng.choice(held_out if use_held_out and rng.random() < 0.5 else tuning)


def random_sample(rng, held_out=False):
    pick = lambda field: _pick(rng, getattr(TUNING, field), getattr(HELD_OUT_ONLY, field), held_out)
    font = pick("fonts")
    special = font in DOT_FONTS or is_segment_font(font)
    size = rng.choice((24, 28, 32, 36, 40) if special else (20, 22, 24, 28, 32, 36, 40))
    trap = rng.choice(sorted(TRAPS)) if rng.random() < TRAP_SHARE else ""
    fmt = pick("formats")
    if trap in ("subtotal_total", "qty_total", "two_totals") and fmt not in _LABELLED:
        fmt = rng.choice([f for f in _LABELLED if f in TUNING.formats or held_out])
    if trap == "cut" and fmt not in _CUTTABLE:
        fmt = rng.choice([f for f in _CUTTABLE if f in TUNING.formats or held_out])
    style = ScreenStyle(font=font, size=size, theme=pick("themes"), fmt=fmt,
                        align=rng.choice(("right", "left")),
                        label_font=pick("label_fonts") if is_segment_font(font) else "",
                        border=rng.random() < 0.3, ghost=special and rng.random() < 0.4,
                        info=rng.random() < 0.4,
                        layout=trap if trap and trap != "cut" else "total")
    grab = Grab()
    if rng.random() < 0.6:
        height = int(size * 1.7)
        margin = tuple(rng.choice((0, 0, rng.randint(2, max(3, int(size * 1.5)))))
                       for _ in range(2)) if rng.random() < 0.5 else (0, 0)
        vertical = tuple(rng.choice((0, rng.randint(2, max(3, height // 2)))) for _ in range(2))
        grab = Grab(margin=(margin[0], vertical[0], margin[1], vertical[1]),
                    scale=rng.choice((1.0, 1.0, 0.75, 1.25, 1.5)) if size * 0.75 >= 18 else rng.choice((1.0, 1.25)),
                    blur=rng.choice((0.0, 0.0, 0.5, 0.8)),
                    jpeg=rng.choice((0, 0, 40, 60, 80)))
    if trap == "cut":
        grab = Grab(margin=(0,) + grab.margin[1:], scale=grab.scale, blur=grab.blur, jpeg=grab.jpeg, cut=True)
    return Sample(style, random_amount(rng), grab)


def corpus(count, seed=6, held_out=False):
    """`count` different samples (reproducible for one seed and part)."""
    rng = random.Random(("held-out:%d" if held_out else "tuning:%d") % seed)
    return [random_sample(rng, held_out) for _ in range(count)]
