"""An LED dot-matrix field the usual picture could not read, read from its dots as solid strokes
(issue 13).

The usual picture joins a panel's dots where they stand; its Chinese labels come out blocky and the
recogniser reads 合计 as "台，" or not at all, or it doubts a digit. A field of one line that gave
no amount is drawn again from its lit dots only (the faint unlit ones dropped), closed by a kernel
from the dot pitch its spectrum shows and softened: that picture must read the total with its label,
and the usual picture must read its number alone as the same amount. A subtotal whose label that
picture loses, and two lines of totals, still give no reading. The screens are the simulator's, in
the tuning palette's round-dot font; each gave no reading before."""
import pytest

from host_agent.ocr import AmountReader
from host_agent.ocr_field import Field
from hw_sim.pos.ocr_corpus import Grab, Sample
from hw_sim.pos.screen import ScreenStyle


@pytest.fixture(scope="module")
def reader():
    reader = AmountReader()
    reader.warm_up()
    return reader


def _sample(size, theme, fmt, amount_fen, grab=Grab(), layout="total", **style):
    return Sample(ScreenStyle(font="led-round", size=size, theme=theme, fmt=fmt, layout=layout, **style),
                  amount_fen, grab)


# each gave no reading before (合计 read as "台，" or "台T", a digit doubted)
READ_FROM_STROKES = [
    _sample(28, "blue", "label_zh_yen", 470),
    _sample(28, "green", "label_zh_yen", 430),
    _sample(36, "light", "label_zh_yen", 4838, Grab(scale=1.5, blur=0.8), border=True),
    _sample(28, "lcd", "label_zh_amount", 380577, Grab(margin=(0, 0, 17, 0), jpeg=60), border=True, ghost=True,
            info=True),
    _sample(36, "grey", "label_en_yen", 5932, border=True),
    _sample(28, "light", "label_zh_amount", 6, align="left", border=True, info=True),     # read narrower
]


@pytest.mark.parametrize("sample", READ_FROM_STROKES, ids=lambda s: s.describe())
def test_an_led_total_the_usual_picture_could_not_read_is_read_from_strokes(reader, sample):
    assert Field(sample.image()).dot_pitch            # the field is a dot panel's
    assert reader.read(sample.image()).amount_fen == sample.amount_fen


def test_the_strokes_picture_joins_the_dots_into_strokes():
    """Each lit dot is a blob of its own in the usual field's unjoined ink; in the strokes picture a
    digit is one stroke (or a few), and the faint unlit dots are gone."""
    import cv2
    import numpy
    sample = _sample(36, "lcd", "plain", 888, ghost=True)
    image = sample.image()
    strokes = Field(image, strokes=True)
    assert strokes.strokes
    line = strokes.lines[0]
    parts = cv2.connectedComponents((strokes.ink[line.top:line.bottom] > 0.5).astype(numpy.uint8))[0] - 1
    assert parts <= 2 * len(line.glyphs)
    # no ink a dot's width away from the lit strokes: the unlit dots between them are gone
    usual = Field(image)
    assert numpy.count_nonzero((usual.ink > 0.05) & (usual.ink < 0.3)) > 0.05 * usual.ink.size
    near = cv2.dilate((strokes.ink > 0.5).astype(numpy.uint8), numpy.ones((5, 5), numpy.uint8))
    assert numpy.count_nonzero((strokes.ink > 0.05) & (near == 0)) == 0


TRAPS = [
    # 小计 touching the border: a strokes picture that loses the label must not charge 4643.29
    _sample(24, "green", "label_zh", 464329, Grab(margin=(0, 0, 0, 5), scale=1.5, jpeg=40), layout="subtotal_only",
            align="left", border=True, info=True),
    _sample(28, "blue", "label_zh_yen", 470, layout="subtotal_only"),
    _sample(28, "green", "label_zh_yen", 430, layout="two_totals"),
    _sample(36, "light", "label_zh_yen", 4838, Grab(scale=1.5, blur=0.8), layout="two_totals", border=True),
    _sample(28, "blue", "label_zh_yen", 470, layout="bad_separator"),
]


@pytest.mark.parametrize("sample", TRAPS, ids=lambda s: s.describe())
def test_a_subtotal_or_two_totals_on_an_led_panel_give_no_reading(reader, sample):
    assert reader.read(sample.image()).amount_fen is None
