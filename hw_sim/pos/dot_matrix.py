"""LED dot-matrix lettering, as the LED panels and cheap LCD skins of Chinese tills draw it: every
glyph a grid of separate dots, the decimal point a dot or two in a cell of its own.

No Debian package ships such a font, so the faces here draw one: `DotFace("round", size)` rasterises
the text with a small bitmap rendering of DejaVu Sans Mono (CJK: WenQuanYi Micro Hei) and draws each
lit pixel as a dot; `DotFace("square", size)` uses the classic 5x7 digit cells (below) and square dots.
`unlit` paints the dark dots of the panel faintly, as a real LED panel shows them.
"""
import functools

from PIL import Image, ImageDraw, ImageFont

_MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
_CJK = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
_GRID = 12              # bitmap pixel size: digits come out 9 dots high
_CJK_GRID = 15          # Chinese needs more dots (panels use 16x16 cells)

# 5x7 cells (rows top to bottom) for the square-dot face; anything else is rasterised
_CELLS = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    ".": ("000", "000", "000", "000", "000", "000", "010"),
    ",": ("000", "000", "000", "000", "000", "010", "100"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    ":": ("000", "000", "010", "000", "010", "000", "000"),
    " ": ("000", "000", "000", "000", "000", "000", "000"),
}


@functools.lru_cache(maxsize=256)
def _bitmap(text, cjk, small=False):
    """`text` in a small bitmap font: (columns, lit (row, col)), rows counted up from the baseline.
    small: for the 5x7 face (digits 7 dots high)."""
    size = (_CJK_GRID if cjk else _GRID) - (3 if small else 0)
    face = ImageFont.truetype(_CJK if cjk else _MONO, size)
    width = int(face.getlength(text)) + 2
    baseline = size + 1
    image = Image.new("1", (width, size + 6), 0)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.text((0, baseline), text, font=face, fill=1, anchor="ls")
    lit = {(baseline - 1 - row, col) for row in range(image.height) for col in range(width)
           if image.getpixel((col, row))}
    return width, frozenset(lit)


class DotFace:
    """Draws text as dots. `size` is the pixel height of a digit, as for the TrueType faces."""

    def __init__(self, shape, size, unlit=None):
        self.shape = shape              # "round" or "square"
        self.size = size
        self.pitch = size / (7.0 if shape == "square" else 9.0)     # dots in a digit's height
        self.unlit = unlit              # colour of the panel's dark dots, or None

    def _cells(self, text):
        """(column offset, lit (row, col) set) per run, rows counted up from the baseline (0)."""
        runs, x = [], 0
        for ch in text:
            if self.shape == "square" and ch in _CELLS:
                cell = _CELLS[ch]
                lit = {(6 - r, c) for r, row in enumerate(cell) for c, bit in enumerate(row) if bit == "1"}
                runs.append((x, lit))
                x += len(cell[0]) + 1
            else:
                cjk = ord(ch) > 0x2E7F
                width, lit = _bitmap(ch, cjk, self.shape == "square")
                runs.append((x, lit))
                x += width - (1 if not cjk else 0)
        return runs, x

    def length(self, text):
        return self._cells(text)[1] * self.pitch

    def draw(self, draw, xy, text, fill):
        """Draw with the baseline at xy[1]."""
        x0, baseline = xy
        runs, columns = self._cells(text)
        radius = self.pitch * (0.42 if self.shape == "round" else 0.40)
        lit_all = set()
        for offset, lit in runs:
            lit_all.update((row, offset + col) for row, col in lit)
        if self.unlit is not None:
            for col in range(columns):
                for row in range(-2, 10):
                    if (row, col) not in lit_all:
                        self._dot(draw, x0, baseline, row, col, radius, self.unlit)
        for row, col in lit_all:
            self._dot(draw, x0, baseline, row, col, radius, fill)
        return x0 + columns * self.pitch

    def _dot(self, draw, x0, baseline, row, col, radius, fill):
        cx = x0 + (col + 0.5) * self.pitch
        cy = baseline - (row + 0.5) * self.pitch
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if self.shape == "round":
            draw.ellipse(box, fill=fill)
        else:
            draw.rectangle(box, fill=fill)
