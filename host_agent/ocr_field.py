"""The screen's total field as geometry, for `host_agent.ocr`: its lines, glyphs and decimal points,
measured rather than recognised, and the pictures of them the recogniser is given.

    field = Field(image)                    # a PIL image of the calibrated region
    for line in field.lines:                # borders, rules and lines cut by the region's edge dropped
        picture = line_picture(field, line) # dark on white; points redrawn, a segment "1" moved in
        picture.field_x(x)                  # where a column of the picture came from

Whatever the theme, the field becomes ink strengths (0 background .. 1 text) against its own
background. An LED dot-matrix panel's dots are joined into strokes first (`Field(image,
strokes=True)`: a picture of its own, from the lit dots only, for a second look). Decimal points
are small squat blobs down on the baseline with nothing above them, found on the surest ink
(antialiasing joins a seven-segment point to its digit) and 4-connected (it touches the digit
corner to corner); `low_points` finds those still joined to a digit, among segment digits
(`segment_digits`).
"""
import math
from dataclasses import dataclass


@dataclass
class Line:
    top: int
    bottom: int
    left: int
    right: int
    baseline: int
    digit_height: int
    dots: list                  # (left, top, right, bottom) of the decimal points found
    glyphs: list                # (left, right, top, bottom) of each glyph, left to right
    touches_side: bool          # ink reaches (or nearly) the region's left or right edge


class Field:
    def __init__(self, image, strokes=False):
        """`strokes`: an LED panel's lit dots (its faint unlit ones dropped) joined by the pitch the
        grid's spectrum shows and softened, as a font's strokes; a picture of its own for a second
        look (`host_agent.ocr`), the field's other checks as for the usual one."""
        import cv2
        import numpy
        rgb = numpy.asarray(image.convert("RGB"), dtype=numpy.float32)
        grey = rgb @ numpy.array([0.299, 0.587, 0.114], dtype=numpy.float32)
        self.ink = _ink_strength(grey)
        self.mask, boxes = _clean(self.ink > 0.5)
        self.lines = _find_lines(self.mask, boxes)
        self.dot_pitch = _dot_pitch(self.ink, self.lines)
        self.strokes = False
        faint = self.ink
        if self.dot_pitch:
            # an LED panel: join its dots into strokes, so glyphs and points are blobs as on any screen
            kernel = numpy.ones((self.dot_pitch + 1, self.dot_pitch + 1), numpy.uint8)
            faint = cv2.morphologyEx(self.ink, cv2.MORPH_CLOSE, kernel)
            pitch = _grid_pitch(self.ink, self.lines) if strokes else 0.0
            self.strokes = pitch > 0
            self.ink = _strokes(self.ink, pitch) if self.strokes else faint
            self.mask, boxes = _clean(self.ink > 0.5)
            self.lines = _find_lines(self.mask, boxes)
        strong = (self.mask & (self.ink > 0.8)).astype(numpy.uint8)
        _, labels, self._parts, _ = cv2.connectedComponentsWithStats(strong, connectivity=4)
        for line in self.lines:
            line.dots = _decimal_points(self.mask, labels, self._parts, line)
            line.touches_side = line.touches_side or _faint_cut(faint, line)

    def segmented(self, line, x_from, x_to):
        """Whether the glyphs between two columns are segment digits: each made of several separate
        strokes on the surest ink, as no ordinary font draws a digit."""
        parts = [part for part in self._parts[1:] if x_from <= part[0] < x_to
                 and line.top <= part[1] < line.bottom and part[4] >= 3]
        glyphs = [g for g in line.glyphs if x_from <= (g[0] + g[1]) / 2 < x_to]
        return len(glyphs) >= 1 and len(parts) >= 2.5 * len(glyphs)

    def segment_digits(self, line, x_from, x_to):
        """Whether the glyphs between two columns (a number's) are a segment display's, by a count
        stricter than `segmented`'s: most glyphs in separate strokes none as tall as the digit, on
        the surest ink (0.8) and on ink a little less sure (0.65, where blur and scaling have left
        few pixels surest); an ordinary font's digit is one stroke from top to bottom."""
        import cv2
        import numpy
        height = line.digit_height
        glyphs = [g for g in line.glyphs if x_from <= (g[0] + g[1]) / 2 <= x_to and g[1] - g[0] >= 0.2 * height]
        if not glyphs:
            return False
        rows = slice(line.top, line.bottom)
        columns = slice(max(0, int(glyphs[0][0])), int(glyphs[-1][1]) + 1)
        shares = []
        for sure in (0.65, 0.8):
            ink = (self.mask[rows, columns] & (self.ink[rows, columns] > sure)).astype(numpy.uint8)
            parts = cv2.connectedComponentsWithStats(ink, connectivity=4)[2][1:]
            split = 0
            for glyph in glyphs:
                own = [p for p in parts if glyph[0] <= columns.start + p[0] + p[2] / 2 < glyph[1]
                       and p[4] >= max(3, 0.01 * height * height)]
                split += len(own) >= 2 and max(p[3] for p in own) < 0.75 * height
            shares.append(split / len(glyphs))
        return shares[0] >= 0.5 and shares[1] >= 0.8

    def italic(self, line, x_from, x_to):
        """Whether the glyphs between two columns lean: most glyphs' ink starts further right in
        their top quarter than in their bottom quarter."""
        import numpy
        height = line.digit_height
        quarter = max(1, (line.baseline - line.top) // 4)
        shifts = []
        for g in line.glyphs:
            if not (x_from <= (g[0] + g[1]) / 2 <= x_to and g[1] - g[0] >= 0.2 * height):
                continue
            starts = []
            for rows in (slice(line.baseline - 4 * quarter, line.baseline - 3 * quarter),
                         slice(line.baseline - quarter, line.baseline)):
                inked = numpy.flatnonzero(self.mask[rows, g[0]:g[1]].any(axis=0))
                starts.append(inked[0] if inked.size else None)
            if None not in starts:
                shifts.append(starts[0] - starts[1])
        return bool(shifts) and sorted(shifts)[len(shifts) // 2] >= 0.05 * height

    def split(self, line, first, last):
        """Whether the ink between two columns (the number's first and last characters) has a gap
        wider than a digit's cell: OCR may read "4.2   1" as 4.21. A segment "1" stands at the right
        of its cell: the blank before it is less than a cell."""
        import numpy
        height = line.digit_height
        glyphs = [g for g in line.glyphs if first - height / 3 <= (g[0] + g[1]) / 2 <= last + height / 3]
        wide = sorted(g[1] - g[0] for g in glyphs if g[1] - g[0] >= 0.35 * height)
        gaps = sorted(b[0] - a[1] for a, b in zip(glyphs, glyphs[1:]) if b[0] > a[1])
        # the lower median gap: in "0.0   1" the gaps are the usual one and the split
        cell = max(wide[len(wide) // 2] if wide else 0, 0.45 * height) + (gaps[(len(gaps) - 1) // 2] if gaps else 0)
        inked = self.mask[line.top:line.bottom, int(first):int(last) + 1].any(axis=0)
        edges = numpy.flatnonzero(numpy.diff(numpy.concatenate([[1], inked.astype(int), [1]])))
        blanks = edges[1::2] - edges[::2]
        return bool(blanks.size) and blanks.max() > 1.3 * cell

    def stacked(self, line, first, last):
        """Whether the number between two columns shares its line with text above it: two lines
        of the field taken as one (tall LED characters bridge the gap between them), so that
        what was read may be either line, or parts of both. The number's ink (its columns' rows)
        then has a blank band in it, or fills only part of the line's height."""
        import numpy
        inked = numpy.flatnonzero(self.mask[line.top:line.bottom, int(first):int(last) + 1].any(axis=1))
        if inked.size == 0:
            return False
        height = line.bottom - line.top
        return bool(inked[-1] - inked[0] + 1 < 0.6 * height or numpy.diff(inked).max(initial=1) > 0.1 * height)

    def merged_point(self, line, x_from, x_to):
        """A segment display's point that blur or scaling joined to the next digit, looked for
        between two columns (where the point must be): one small round blob down on the baseline
        with nothing above it. Only among segment digits, where no "1" has a foot to be taken for a
        point. (left, top, right, bottom) or None."""
        height = line.digit_height
        glyphs = [g for g in line.glyphs if g[1] > x_from - height / 3 and g[0] < x_to + height / 3]
        if not glyphs or not self.segmented(line, glyphs[0][0], glyphs[-1][1]):
            return None
        found = self.low_points(line, x_from, x_to)
        return found[0] if len(found) == 1 else None

    def low_points(self, line, x_from, x_to, leading=True):
        """Every point-sized blob down on the baseline with nothing above it between two columns,
        joined to a digit or not (a segment font's point touches its digit's corner): [(left, top,
        right, bottom)]. For segment digits only (ask `segmented` or `segment_digits`): they have ink
        high up in every column, but an ordinary font's "1" has a foot. Without `leading`, not one
        joined only to the digit after it: that is also an italic digit's bottom bar, its end out to
        the left of the rest."""
        import numpy
        height = line.digit_height
        x_from, x_to = max(0, int(x_from)), min(self.mask.shape[1], int(x_to))
        if x_to <= x_from:
            return []
        band = self.mask[line.top:line.bottom, x_from:x_to]
        rows = numpy.arange(line.top, line.bottom)[:, None]
        top = numpy.where(band, rows, line.bottom).min(axis=0)
        low = band.any(axis=0) & (top >= line.baseline - 0.3 * height)
        runs = numpy.flatnonzero(numpy.diff(numpy.concatenate([[0], low.astype(int), [0]])))
        found = []
        for start, end in zip(runs[::2], runs[1::2]):
            ink = numpy.flatnonzero(band[:, start:end].any(axis=1))
            blob_height, width = ink[-1] - ink[0] + 1, end - start
            beside = slice(line.top + int(ink[0]), line.top + int(ink[-1]) + 1)
            after = x_from + int(end) < self.mask.shape[1] and self.mask[beside, x_from + int(end)].any()
            before = x_from + int(start) > 0 and self.mask[beside, x_from + int(start) - 1].any()
            if after and not before and not leading:
                continue
            if 0.06 * height <= blob_height <= 0.3 * height and 0.05 * height <= width <= 0.3 * height \
                    and 0.5 <= width / blob_height <= 2.0:
                found.append((x_from + int(start), line.top + int(ink[0]), x_from + int(end),
                              line.top + int(ink[-1]) + 1))
        return found


def glyph_span(line, left, right):
    """Field columns from the gap before the glyph at `left` (or before a glyph right against it: a
    "1" OCR took for a "(") to the gap after the glyph at `right`."""
    glyphs = line.glyphs

    def nearest(x):
        return min(range(len(glyphs)), key=lambda i: 0 if glyphs[i][0] <= x <= glyphs[i][1] else
                   min(abs(glyphs[i][0] - x), abs(glyphs[i][1] - x)))

    first, last = nearest(left), nearest(right)
    if first and glyphs[first][0] - glyphs[first - 1][1] < 0.25 * line.digit_height:
        first -= 1
    start = (glyphs[first - 1][1] + glyphs[first][0]) / 2 if first else glyphs[first][0] - line.digit_height / 3
    end = (glyphs[last][1] + glyphs[last + 1][0]) / 2 if last + 1 < len(glyphs) \
        else glyphs[last][1] + line.digit_height / 3
    return start, end


def _ink_strength(grey):
    """0 (background) .. 1 (text) per pixel. The background is the commonest grey in the middle of
    the region, where the field is (a margin of screen round it may be larger than the field); the
    text is on whichever side of it the far-off greys are more."""
    import numpy
    height, width = grey.shape
    centre = grey[height // 4: height - height // 4 or None, width // 10: width - width // 10 or None]
    levels = numpy.clip(centre, 0, 255).astype(numpy.uint8)
    background = float(numpy.argmax(numpy.bincount((levels // 4).ravel(), minlength=64)) * 4 + 2)
    darker = numpy.count_nonzero(centre < background - 40)
    lighter = numpy.count_nonzero(centre > background + 40)
    extreme = float(numpy.percentile(centre, 99.5 if lighter > darker else 0.5))
    span = extreme - background
    if abs(span) < 30:          # no contrast: a blank field
        return numpy.zeros_like(grey)
    return numpy.clip((grey - background) / span, 0.0, 1.0)


def _clean(mask):
    """The mask without borders, rules and other panels' edges, and the boxes (x, y, w, h, area) of
    what is left. A glyph touching a border (a tall LED character) stays: only the border's
    straight runs go, else a label lost with it makes a subtotal the field's one number."""
    import cv2
    import numpy
    height, width = mask.shape

    def rule(w, h, area):
        return w >= 0.6 * width or (h >= 0.75 * height and (w <= 0.2 * h or area < 0.3 * w * h))

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(numpy.uint8), connectivity=8)
    rules = [i for i in range(1, count) if rule(*(int(v) for v in stats[i][2:]))]
    if rules:
        mask = mask.copy()
        for i in rules:
            x, y, w, h, _ = (int(v) for v in stats[i])
            part = labels[y:y + h, x:x + w] == i
            straight = numpy.zeros_like(part)
            straight[[r for r in range(h) if _longest_run(part[r]) >= 0.6 * w]] = True
            straight[:, [c for c in range(w) if _longest_run(part[:, c]) >= 0.6 * h]] = True
            # the straight runs and a pixel round them (antialiased edges); what else was joined stays
            straight = cv2.dilate(straight.astype(numpy.uint8), numpy.ones((3, 3), numpy.uint8)).astype(bool)
            mask[y:y + h, x:x + w] &= ~(part & straight)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(numpy.uint8), connectivity=8)
    keep = numpy.zeros(count, dtype=bool)
    boxes = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if rule(w, h, area):
            continue
        keep[i] = True
        boxes.append((x, y, w, h, area))
    return keep[labels], boxes


def _faint_cut(ink, line):
    """Whether the region's side cuts a digit's cell that the faint ink of the unlit segments or
    dots shows (an LCD's "8" behind each digit), its lit ink clear of the side: the cut may have
    taken a lit segment with it. Faint ink in some rows of the side columns and none in others,
    with the line within a cell of that side (a margin of screen there is even, row by row, and a
    band of it above or below the field runs across the whole region)."""
    import numpy
    height, width = ink.shape
    for columns, near in ((slice(0, 2), line.left), (slice(width - 2, width), width - line.right)):
        if near > 1.2 * line.digit_height:
            continue
        side = ink[line.top:line.bottom, columns].max(axis=1)
        across = (ink[line.top:line.bottom] > 0.08).mean(axis=1) > 0.9      # a band of screen margin
        faint = (side > 0.08) & (side < 0.5) & ~across
        clear = side < 0.04
        if faint.sum() >= 0.1 * side.size and clear.sum() >= 0.1 * side.size:
            return True
    return False


def _longest_run(flags):
    import numpy
    edges = numpy.flatnonzero(numpy.diff(numpy.concatenate([[0], flags.astype(numpy.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def _dot_pitch(ink, lines):
    """The dot pitch of an LED dot-matrix panel (its dots sit on a grid, so the ink along a line,
    row by row and column by column, repeats every pitch), else 0."""
    if not lines:
        return 0
    line = max(lines, key=lambda line: line.right - line.left)
    band = ink[line.top:line.bottom, line.left:line.right]
    longest = max(3, line.digit_height // 5)
    rows, pitch = _repeats(band.sum(axis=1), longest)
    columns, _ = _repeats(band.sum(axis=0), longest)
    return pitch if rows + columns >= 0.8 else 0


def _grid_pitch(ink, lines):
    """An LED panel's dot pitch, to a fraction of a pixel: the strongest period of the ink along
    the longest line, row by row plus column by column, between 2 pixels and a quarter of a digit
    (autocorrelation at whole lags takes twice a fractional pitch for it). 0.0 if none."""
    import numpy
    if not lines:
        return 0.0
    line = max(lines, key=lambda line: line.right - line.left)
    band = ink[line.top:line.bottom, line.left:line.right]
    longest = max(3.0, line.digit_height / 4)
    frequencies = numpy.fft.rfftfreq(_SPECTRUM)
    wanted = (frequencies >= 1 / longest) & (frequencies <= 0.5)
    power = numpy.zeros(frequencies.size)
    for profile in (band.sum(axis=1), band.sum(axis=0)):
        if profile.size < 8:
            return 0.0
        spectrum = numpy.abs(numpy.fft.rfft((profile - profile.mean()) * numpy.hanning(profile.size), _SPECTRUM)) ** 2
        if spectrum[wanted].sum() <= 0:
            return 0.0
        power += spectrum / spectrum[wanted].sum()
    peak = numpy.flatnonzero(wanted)[numpy.argmax(power[wanted])]
    return float(1 / frequencies[peak])


_SPECTRUM = 1024


def _strokes(ink, pitch):
    """An LED panel's lit dots as solid strokes: the faint unlit dots dropped, the lit ones closed
    by a round kernel 0.7 of a pitch across (a whole pitch makes blobs of a Chinese label's
    strokes), softened by a blur of 0.3 of a pitch."""
    import cv2
    import numpy
    lit = (ink > 0.5).astype(numpy.uint8)
    size = int(round(pitch * _STROKE_CLOSE)) + 1
    solid = cv2.morphologyEx(lit, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return numpy.clip(cv2.GaussianBlur(solid.astype(numpy.float32), (0, 0), _STROKE_BLUR * pitch), 0.0, 1.0)


_STROKE_CLOSE = 0.7
_STROKE_BLUR = 0.3


def _repeats(profile, longest):
    """(how strongly, at which lag from 2 to `longest`) a profile repeats itself. A grid repeats
    at twice and three times its pitch as well (in a two-line field, more strongly): the shortest
    lag nearly as strong as the strongest is the pitch."""
    import numpy
    detail = (profile - numpy.convolve(profile, numpy.ones(5) / 5, mode="same"))[3:-3]
    found = []
    for lag in range(2, longest + 1):
        a, b = detail[:-lag], detail[lag:]
        if a.size < 8:
            break
        norm = numpy.sqrt((a * a).sum() * (b * b).sum())
        if norm > 0:
            found.append((float((a * b).sum() / norm), lag))
    if not found or max(found)[0] <= 0:
        return 0.0, 0
    strongest = max(found)[0]
    return strongest, next(lag for strength, lag in found if strength >= 0.8 * strongest)


def _find_lines(mask, boxes):
    import numpy
    height, width = mask.shape
    rows = numpy.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    edges = numpy.flatnonzero(numpy.diff(rows) > 1)
    bands = list(zip(numpy.concatenate([[rows[0]], rows[edges + 1]]), numpy.concatenate([rows[edges], [rows[-1]]]) + 1))
    tallest = max(bottom - top for top, bottom in bands)
    lines = []
    for top, bottom in bands:
        band_height = bottom - top
        if band_height < 0.4 * tallest:
            continue            # specks, an underline
        if (top == 0 or bottom == height) and band_height < 0.8 * tallest:
            continue            # a line cut by the region's top or bottom edge: not the field's own
        members = [b for b in boxes if b[1] >= top and b[1] + b[3] <= bottom]
        if not members:
            continue
        left = min(b[0] for b in members)
        right = max(b[0] + b[2] for b in members)
        glyphs = _glyphs(members)
        tall = [g for g in glyphs if g[3] - g[2] >= 0.5 * band_height] or glyphs
        baseline = sorted(g[3] for g in tall)[len(tall) // 2]
        digit_height = sorted(g[3] - g[2] for g in tall)[len(tall) // 2]
        # ink closer to the side than a digit's stroke: the edge may have cut a digit in two, and
        # what is left of it ("4" -> "1") read as a digit
        near = max(1, 0.15 * digit_height)
        lines.append(Line(int(top), int(bottom), left, right, baseline, digit_height, [],
                          [tuple(g) for g in glyphs], left < near or right > width - near))
    return lines


def _glyphs(boxes):
    """[left, right, top, bottom] of each glyph: blobs that overlap in x belong to one glyph (a
    segment digit's segments, a CJK character's strokes)."""
    glyphs = []
    for x, y, w, h, _ in sorted(boxes):
        if glyphs and x < glyphs[-1][1] - 0.3 * min(w, glyphs[-1][1] - glyphs[-1][0]):
            glyph = glyphs[-1]
            glyph[1], glyph[2], glyph[3] = max(glyph[1], x + w), min(glyph[2], y), max(glyph[3], y + h)
        else:
            glyphs.append([x, x + w, y, y + h])
    return glyphs


def _decimal_points(mask, labels, parts, line):
    """The blobs of the surest ink that are decimal points: small and squat, down on the baseline (a
    comma hangs below it: left alone), with nothing just above them (a colon's upper dot) nor over
    them (a glyph's foot, a dot-matrix digit's bottom row)."""
    import numpy
    height = line.digit_height
    points = []
    for i in range(1, len(parts)):
        x, y, w, h, _ = (int(v) for v in parts[i])
        if not (line.left <= x and x + w <= line.right and line.top <= y and y + h <= line.bottom + 1):
            continue
        if not (h <= 0.45 * height and w <= 0.4 * height and 0.3 <= w / h <= 2.2
                and max(w, h) >= max(2, 0.06 * height)):
            continue
        if y < line.baseline - 0.4 * height or y + h < line.baseline - 0.12 * height - 1:
            continue
        side = int(0.25 * w)
        if numpy.any(labels[max(0, int(y - 0.3 * height)):y, max(0, x - side):x + w + side] != 0):
            continue
        if y + h > line.baseline + 0.1 * height + 1 or h > 1.4 * w:
            continue
        middle = slice(x + w // 4, x + w - w // 4) if w >= 4 else slice(x, x + w)
        if mask[line.top:y, middle].any():
            continue
        points.append((x, y, x + w, y + h))
    return points


# ------------------------------------------------------------------------------------- pictures
@dataclass
class Picture:
    pixels: object              # grey uint8, dark text on white
    columns: object             # the field's x of each column of pixels

    def field_x(self, x):
        column = min(max(int(x), 0), len(self.columns) - 1)
        return float(self.columns[column])


def line_picture(field, line, span=None, sharp=False, compact=True):
    """A line (or the part of it in `span`, field columns from..to) as the recogniser likes it: dark
    on white with a margin. A decimal point squeezed between two digits (a segment display's) is
    drawn again round and bigger with room either side, else OCR drops it; with `compact`, a segment
    "1" standing at the right of its cell is moved towards the digit before it, else OCR reads a gap
    ("4.2 1"). `sharp`: the ink cut harder and the margin smaller (another picture of the same)."""
    import cv2
    import numpy
    height = line.bottom - line.top
    left, right = (line.left, line.right) if span is None else (max(0, int(span[0])), int(math.ceil(span[1])))
    right = min(right, field.mask.shape[1])
    rows = slice(line.top, line.bottom)
    low, scale = (0.4, 0.25) if sharp else (0.3, 0.4)
    crop = numpy.clip((field.ink[rows, left:right] - low) / scale, 0.0, 1.0) * _near(field.mask[rows, left:right])
    inked = crop > 0.5
    keep = numpy.ones(right - left, dtype=bool)
    for gap_from, gap_to in (_slack(line) if compact else ()):
        if left <= gap_from and gap_to <= right:
            keep[gap_from - left:gap_to - left] = False
    room = numpy.zeros(right - left + 1, dtype=int)          # blank columns to put before each column
    extra = max(2, int(0.15 * line.digit_height))
    near = max(2, int(0.6 * _median_gap(line)))
    points = []                                 # (column, its centre's offset from it, radius)
    for x0, y0, x1, y1 in line.dots:
        if not (left <= x0 and x1 <= right) or not keep[x0 - left:x1 - left].all():
            continue
        x0, x1, below = x0 - left, x1 - left, y0 - line.top
        if not (inked[below:, max(0, x0 - near):x0 - 1].any() or inked[below:, x1 + 1:x1 + near].any()):
            continue            # a point with as much room as any glyph: OCR sees it as it is
        crop[below - 1:, max(0, x0 - 1):x1 + 1] = 0.0
        above = inked[:max(0, below - 1)]
        radius = max((y1 - y0) / 2, 0.11 * line.digit_height)
        leaning = [edge for edge in (x0, x1) if not (0 < edge < inked.shape[1])
                   or above[:, edge - 1:edge + 1].any()]
        if not leaning:
            for edge in (x0, x1):
                room[edge] += extra
            points.append((x0, (x1 - x0) / 2, min(radius, (x1 - x0) / 2 + extra - 1)))
            continue
        # a digit leans over the point (a segment font's point sits under the next digit's corner):
        # no room can open beside it, so it is drawn in a cell of its own at the nearest blank column
        others = inked.copy()
        others[max(0, below - 1):, max(0, x0 - 1):x1 + 1] = False
        blank = numpy.flatnonzero(~others.any(axis=0) & keep[:others.shape[1]])
        blank = blank[numpy.abs(blank - (x0 + x1) / 2) <= 0.5 * line.digit_height]
        if blank.size == 0:
            continue            # nowhere to put it: not drawn, and the reading refuses (point_unsure)
        column = int(blank[numpy.argmin(numpy.abs(blank - (x0 + x1) / 2))])
        cell = int(round(2 * radius)) + 2 * extra
        room[column] += cell
        points.append((column, -cell / 2, min(radius, cell / 2 - 1)))     # in the blank cell before it
    order = []                                  # the crop's column shown by each of the picture's (-1: blank)
    for column in range(right - left):
        order.extend([-1] * int(room[column]))
        if keep[column]:
            order.append(column)
    order = numpy.array(order, dtype=int)
    taken = order >= 0
    body = numpy.zeros((height, order.size), dtype=numpy.float32)
    body[:, taken] = crop[:, order[taken]]
    columns = numpy.empty(order.size)          # the field column each shows; a blank one, the next
    shown = right
    for i in range(order.size - 1, -1, -1):
        if order[i] >= 0:
            shown = left + order[i]
        columns[i] = shown
    position = {x: i for i, x in enumerate(order) if x >= 0}
    for column, middle, radius in points:
        centre = (position[column] + middle, line.baseline - line.top - radius)
        cv2.circle(body, (int(round(centre[0])), int(round(centre[1]))), max(1, int(round(radius))), 1.0, -1)
    pad = max(3, height // 8) if sharp else max(4, height // 4)
    pixels = numpy.full((height + 2 * pad, body.shape[1] + 2 * pad), 255, dtype=numpy.uint8)
    pixels[pad:pad + height, pad:pad + body.shape[1]] = (255 * (1.0 - body)).astype(numpy.uint8)
    return Picture(pixels, numpy.concatenate([numpy.full(pad, left), columns, numpy.full(pad, right)]))


def _median_gap(line):
    gaps = sorted(b[0] - a[1] for a, b in zip(line.glyphs, line.glyphs[1:]) if b[0] > a[1])
    return gaps[(len(gaps) - 1) // 2] if gaps else 0


def _near(mask):
    """The mask and a pixel round it (the antialiased edges), as 0/1."""
    import cv2
    import numpy
    return cv2.dilate(mask.astype(numpy.uint8), numpy.ones((3, 3), numpy.uint8)).astype(numpy.float32)


def _slack(line):
    """Columns to drop before a narrow glyph standing at the right of a fixed-width cell (a segment
    "1"), so that it is as far from the digit before it as in an ordinary font."""
    glyphs = line.glyphs
    widths = sorted(g[1] - g[0] for g in glyphs if g[1] - g[0] >= 0.35 * line.digit_height)
    if len(widths) < 2:
        return []
    width = widths[len(widths) // 2]
    gap = sorted(b[0] - a[1] for a, b in zip(glyphs, glyphs[1:]))[(len(glyphs) - 1) // 2]
    slack = []
    for a, b in zip(glyphs, glyphs[1:]):
        narrow, space = b[1] - b[0], b[0] - a[1]
        if a[1] - a[0] < 0.5 * width:
            continue            # after another narrow glyph ("11"): moved in, OCR reads a single "1"
        if narrow < 0.5 * width and gap + 0.3 * width < space <= gap + (width - narrow) + 0.45 * width:
            drop = int(space - gap - (width - narrow) / 3)
            middle = (a[1] + b[0]) // 2
            if drop > 0:
                slack.append((middle - drop // 2, middle - drop // 2 + drop))
    return slack
