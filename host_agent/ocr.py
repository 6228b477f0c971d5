"""Reading the amount due from a picture of the POS screen's total field, or refusing to.

At the till no reading is always better than a wrong one. OCR's own score cannot tell: it read a
seven-segment "DUE 7.70" as 770.00 with a confidence of 0.9. So a picture gives an amount only when
every check passes, and otherwise no amount and a reason (`why`, a key of REFUSALS):

1. the field (`host_agent.ocr_field`): binarised against its own background; borders, rules, another
   panel's edge and lines cut by the region's top or bottom are dropped, the rest split into lines.
   Decimal points are found by their shape (a segment or LED point is a separate dot that OCR drops
   or reads as a space) and drawn clearly before reading; a segment "1" is moved next to its digit;
2. recognition (`host_agent.ocr_recogniser`): rapidocr's recogniser on each line, each character with
   its own probability, place and runners-up; unsure words whose runners-up spell a known label are
   spelt so ("台计" -> 合计);
3. the total (`host_agent.amount.screen_total`): the number after a total label taken as a whole
   word (TOTAL, 合计, 应收, DUE, 实收...; not SUBTOTAL, 小计, "TOTAL QTY"), or the one number of a
   field with no label, written exactly as money (`decimals`); several totals, split digits, a
   misplaced separator or a stray mark against the number refuse;
4. checks: every digit sure (and its label and point), no digit or point likely dropped inside it;
   no ink against (or nearly) the region's side, nor an unlit segment cut by it; no text above it
   on its line; no gap in its ink wider than a digit's cell; every point found among its digits
   read as one, on a segment display those joined to a digit's corner too ("408.2.00" is not
   4082.00);
5. a second, independent read: the number alone from another picture (sharpened, closer, nothing
   moved), or if that reads no amount the whole line so, must give the same amount.

A seven-segment point that blur or scaling joined to its digit is looked for where the point must be
(before the last two digits) when the total was read without one, and the line read again.

6. a second look: a field that gave no amount, or one with a character not sure enough, is read
   again at twice the size, then narrower, with every check again; never after a digit or point
   likely dropped, a split, a cut or two reads that disagreed. Every picture must propose the
   same amount, with no fewer points or separators than the first.
7. LED dot-matrix strokes: before those, a field of one line on an LED panel is drawn again from
   its lit dots only (the faint unlit ones dropped), closed by a kernel from the dot pitch and
   softened into solid strokes (its Chinese labels read as 合计, not "台，"), and if that gives
   no amount for want of a sure character or a label, read narrower. That picture must
   read the total with its label (a subtotal whose label it loses is no unlabelled total) and
   pass every check, the usual picture must read its number alone as the same amount, and the
   first picture must have proposed no other amount.

`AmountReader.read(image)` -> Reading(text, score, amount_fen, why): `why` is "" for a blank field.
"""
from dataclasses import dataclass

from host_agent.amount import CURRENCY_WORDS, OTHER_LABELS, SCREEN_LABELS, screen_total
from host_agent.ocr_field import Field, glyph_span, line_picture
from host_agent.ocr_recogniser import OcrUnavailable, Recogniser, spell_words

__all__ = ["AmountReader", "OcrUnavailable", "Reading", "REFUSALS", "refusal_text"]

# why -> (what the cashier is told, what the log says)
REFUSALS = {
    "several_totals": ("屏幕上有多个金额，无法确定应收", "more than one total on the screen"),
    "not_total": ("屏幕上的金额不是应收合计",
                  "the number on the screen is not labelled as the total (a subtotal, a quantity?)"),
    "bad_number": ("金额的小数点或分隔符不对", "the total's decimal point or separators are out of place"),
    "split": ("金额数字断开，无法确认", "the total's digits are split by a gap"),
    "point_unsure": ("金额的小数点看不清", "a decimal point among the total's digits was not read as one"),
    "unsure": ("屏幕金额看不清", "the recogniser is not sure of every character of the total"),
    "reads_disagree": ("屏幕金额两次识别不一致", "two independent reads of the total disagree"),
    "cut": ("金额超出识别区域，请重新校准",
            "the total touches the edge of the region: calibrate again with some room round it"),
}


def refusal_text(why, english=False):
    """What to tell the cashier (Chinese) or write in the log (English) for a refusal; "" for none."""
    texts = REFUSALS.get(why)
    if texts is None:
        return ""
    return texts[1] if english else texts[0]


@dataclass(frozen=True)
class Reading:
    text: str                   # what the recogniser saw (lines joined by " / ")
    score: float                # the least sure character of the total and its label, 0..1
    amount_fen: object          # int, or None
    why: str = ""               # no amount: "" (no total shown) or a key of REFUSALS


@dataclass(frozen=True)
class _Pass:
    """What one picture of the field gave."""
    reading: Reading
    proposed: object            # the amount its text proposed before the checks, or None
    final: bool                 # its refusal stands: no other picture is read


class AmountReader:
    min_digit_prob = 0.80       # every digit of the total at least this sure
    min_other_prob = 0.50       # its points and its label's characters
    max_doubt = 0.15            # a digit or point dropped inside the total this likely: refuse
    squeeze = 0.7               # the third picture's width, of the usual

    def __init__(self, labels=SCREEN_LABELS, decimals=2):
        self.labels = tuple(labels)
        self.decimals = decimals
        self.recogniser = Recogniser()
        self._words = {word.upper() for word in self.labels + OTHER_LABELS + CURRENCY_WORDS if " " not in word}

    def warm_up(self):
        """Load the model and run it once now rather than on the first read."""
        import numpy
        self.recogniser.read([numpy.full((48, 96), 255, dtype=numpy.uint8)])

    def read(self, image):
        field = Field(image)
        if not field.lines:
            return Reading("", 0.0, None, "")
        first = self._read_field(field)
        if first.reading.amount_fen is not None or first.final:
            return first.reading
        # no amount: again from other pictures, each with every check: the field at twice the size
        # (a 24-pixel seven-segment total, blur and JPEG have pixels to spare), then read narrower
        # (a segment zero read as "□", an italic "1" as "1 "). Only where the first picture gave no
        # amount, or one it was unsure of a character of; never where a digit or point was likely
        # dropped, the number split, or two reads disagreed: that doubt is in the screen. Every
        # picture must propose the same amount, and none with fewer points or separators than
        # the first showed (a point lost in "7.4.70"). An LED panel's field is first read from its
        # dots as solid strokes; if that gives no amount it counts for nothing.
        from PIL import Image
        proposals = {first.proposed} - {None}
        strokes = self._read_strokes(image, field)
        if strokes is not None and strokes.amount_fen is not None and proposals <= {strokes.amount_fen} \
                and _separators(strokes.text) >= _separators(first.reading.text):
            return strokes
        for scale, squeeze in ((2, 1.0), (1, self.squeeze)):
            picture = image if scale == 1 else image.resize((image.width * scale, image.height * scale),
                                                             Image.Resampling.BICUBIC)
            again = self._read_field(Field(picture), squeeze)
            proposals |= {again.proposed} - {None}
            if len(proposals) > 1:
                return Reading(first.reading.text + " | " + again.reading.text, first.reading.score, None,
                               "reads_disagree")
            if again.reading.amount_fen is not None:
                if _separators(again.reading.text) < _separators(first.reading.text):
                    return first.reading
                return again.reading
            if again.final:
                return again.reading
        return first.reading

    def _read_strokes(self, image, field):
        """An LED panel's field read from its dots as solid strokes (its Chinese labels and its
        digits read better so than from the dots joined as they stand): a Reading, or None where
        that picture is not for this field. Only a field of one line, in either picture: a line
        lost (a subtotal above) must not make the other the total; the total's label must be
        read (小计 4643.29 with its label lost is no unlabelled total), and its number read alone
        from the usual picture must be the same amount, with that picture's checks passed too."""
        if not field.dot_pitch or len(field.lines) != 1:
            return None
        strokes = Field(image, strokes=True)
        if not strokes.strokes or len(strokes.lines) != 1:
            return None
        reading = self._read_field(strokes, confirm=field).reading
        if reading.amount_fen is None and reading.why in ("unsure", "not_total", ""):
            # a character not sure or a label not read: that picture read narrower, as the second
            # look reads the usual one (a wide LED zero)
            reading = self._read_field(strokes, self.squeeze, confirm=field).reading
        return reading

    def _read_field(self, field, squeeze=1.0, confirm=None):
        """One picture's reading: a _Pass. `confirm`: another Field of the same image (the usual
        picture of a strokes one) whose own read of the number alone must give the same amount,
        and whose own checks must pass too."""
        pictures = [line_picture(field, line) for line in field.lines]
        reads = [spell_words(read, self._words) for read in self.recogniser.read([p.pixels for p in pictures], squeeze)]
        found = screen_total("\n".join(r.text for r in reads), self.labels, self.decimals)
        if found.why == "bad_number" and self.decimals == 2:
            found = self._find_merged_point(field, pictures, reads, found, squeeze)
        shown = " / ".join(r.text for r in reads)
        if found.amount_fen is None:
            return _Pass(Reading(shown, 0.0, None, found.why), None, False)
        start, end, label_start, label_end = found.span
        number, offset = _line_of(reads, start)
        read, line, picture = reads[number], field.lines[number], pictures[number]
        digits = read.chars[start - offset:end - offset]
        taken = read.chars[label_start - offset:label_end - offset] + digits
        score = min(c.prob for c in taken)
        if read.doubt(start - offset, end - offset - 1) > self.max_doubt:
            # a character or point likely dropped between two read: the number may be another;
            # a runner-up where one was kept (a "0" that may be an "8"): another picture may tell
            dropped = read.gap_doubt(start - offset, end - offset - 1) > self.max_doubt
            return _Pass(Reading(shown, score, None, "unsure"), found.amount_fen, dropped)
        if any(c.prob < (self.min_digit_prob if c.text.isdigit() else self.min_other_prob) for c in taken):
            return _Pass(Reading(shown, score, None, "unsure"), found.amount_fen, False)
        if line.touches_side:
            return _Pass(Reading(shown, score, None, "cut"), found.amount_fen, True)
        if field.split(line, picture.field_x((digits[0].left + digits[0].right) / 2),
                       picture.field_x((digits[-1].left + digits[-1].right) / 2)):
            return _Pass(Reading(shown, score, None, "split"), found.amount_fen, True)
        left, right = picture.field_x(digits[0].left), picture.field_x(digits[-1].right)
        if field.stacked(line, left, right):
            return _Pass(Reading(shown, score, None, "unsure"), found.amount_fen, True)
        if not _points_read(field, line, picture, digits, left, right):
            return _Pass(Reading(shown, score, None, "point_unsure"), found.amount_fen, True)
        if confirm is not None:
            if label_start == label_end:
                return _Pass(Reading(shown, score, None, "not_total"), found.amount_fen, True)
            why = self._confirmed(confirm, [picture.field_x((c.left + c.right) / 2) for c in digits],
                                  found.amount_fen, squeeze)
            if why:
                return _Pass(Reading(shown, score, None, why), found.amount_fen, True)
        # the second read, as the screen shows it (no "1" moved: had moving one lost a digit, this
        # disagrees); a different amount refuses at once, no amount tries the whole line
        for span, labels in ((glyph_span(line, left, right), ()), (None, self.labels)):
            second = self.recogniser.read([line_picture(field, line, span, sharp=True, compact=False).pixels],
                                           squeeze)[0]
            again = screen_total(second.text, labels, self.decimals)
            if again.amount_fen is not None and again.amount_fen != found.amount_fen:
                break
            if again.amount_fen == found.amount_fen and \
                    min(c.prob for c in second.chars[again.span[0]:again.span[1]]) >= self.min_other_prob:
                return _Pass(Reading(shown, score, found.amount_fen, ""), found.amount_fen, True)
        return _Pass(Reading(shown + " | " + second.text, score, None, "reads_disagree"), found.amount_fen, True)

    def _confirmed(self, field, middles, amount_fen, squeeze):
        """Why the number whose characters stand at these field columns is not the same amount in
        `field` (another picture of the same image): "" when its line there passes the checks
        against a cut, a split, text above and an unread point, and its number read alone is
        `amount_fen`, every character of it at least min_digit_prob sure."""
        lines = [line for line in field.lines if line.left <= middles[-1] and middles[0] <= line.right]
        if len(lines) != 1:
            return "reads_disagree"
        line = lines[0]
        if line.touches_side:
            return "cut"
        if field.split(line, middles[0], middles[-1]):
            return "split"
        span = glyph_span(line, middles[0], middles[-1])
        if field.stacked(line, span[0], span[1]):
            return "unsure"
        picture = line_picture(field, line, span, sharp=True, compact=False)
        read = self.recogniser.read([picture.pixels], squeeze)[0]
        again = screen_total(read.text, (), self.decimals)
        if again.amount_fen != amount_fen:
            return "reads_disagree"
        digits = read.chars[again.span[0]:again.span[1]]
        if any(c.prob < self.min_digit_prob for c in digits) or \
                read.doubt(again.span[0], again.span[1] - 1) > self.max_doubt:
            return "unsure"
        left, right = picture.field_x(digits[0].left), picture.field_x(digits[-1].right)
        if not _points_read(field, line, picture, digits, left, right):
            return "point_unsure"
        return ""

    def _find_merged_point(self, field, pictures, reads, found, squeeze):
        """The total read as digits only ("5690"): on a segment display, its point may be joined to
        the next digit. Looked for before the last two digits; if there, drawn and the line read
        again. The new ScreenTotal (or `found` unchanged)."""
        number, offset = _line_of(reads, found.span[0])
        digits = reads[number].chars[found.span[0] - offset:found.span[1] - offset]
        if len(digits) < 3 or not all(c.text.isdigit() for c in digits):
            return found
        line, picture = field.lines[number], pictures[number]
        before, after = digits[-3], digits[-2]
        point = field.merged_point(line, int(picture.field_x((before.left + before.right) / 2)),
                                   int(picture.field_x((after.left + after.right) / 2)))
        if point is None:
            return found
        line.dots.append(point)
        pictures[number] = line_picture(field, line)
        reads[number] = spell_words(self.recogniser.read([pictures[number].pixels], squeeze)[0], self._words)
        return screen_total("\n".join(r.text for r in reads), self.labels, self.decimals)


def _points_read(field, line, picture, digits, left, right):
    """Whether every point the field's pixels show among the total's digits was read as a point of
    its own: the points found as blobs, and on a segment display those joined to a digit's bottom
    right corner (looked for between every two digits read). "408.2.00" read as 4082.00, its first
    point lost, has a point no read one answers for."""
    height = line.digit_height
    points = [picture.field_x((c.left + c.right) / 2) for c in digits if c.text in ".,"]
    dots = [(d[0] + d[2]) / 2 for d in line.dots if left <= (d[0] + d[2]) / 2 <= right]
    middles = [picture.field_x((c.left + c.right) / 2) for c in digits if c.text.isdigit()]
    segments = len(middles) > 1 and field.segment_digits(line, left, right)
    leading = segments and not field.italic(line, left, right)
    for x_from, x_to in zip(middles, middles[1:]) if segments else ():
        for blob in field.low_points(line, x_from, x_to, leading):
            middle = (blob[0] + blob[2]) / 2
            if all(abs(middle - d) > 0.25 * height for d in dots):
                dots.append(middle)
    # each point shown answered by a point read near it, no read point answering for two
    answered = set()
    for dot in sorted(dots):
        near = min(range(len(points)), key=lambda i: abs(points[i] - dot), default=None)
        if near is None or abs(points[near] - dot) > 0.6 * height or near in answered:
            return False
        answered.add(near)
    return True


def _separators(text):
    return sum(text.count(mark) for mark in ".,")


def _line_of(reads, at):
    """(which line, where its text starts) for a place in the lines' text joined by newlines."""
    offset = 0
    for number, read in enumerate(reads):
        if at <= offset + len(read.text):
            return number, offset
        offset += len(read.text) + 1
    return len(reads) - 1, offset
