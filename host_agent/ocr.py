"""Reading the amount due from a picture of the POS screen's total field.

The region is calibrated once (`python -m host_agent calibrate`), so only recognition runs: rapidocr's
ONNX recogniser (shipped inside its wheel, runs offline) on one line of text, about 20 ms on a 2-core
PC. Text detection (1-3 s) is never used. `AmountReader.read(image)` returns what it saw and the
amount in fen (None when the field shows no amount).
"""
import logging
import threading
from dataclasses import dataclass

from host_agent.amount import TOTAL_LABELS, find_total

log = logging.getLogger(__name__)


class OcrUnavailable(RuntimeError):
    """rapidocr or onnxruntime is not installed."""


@dataclass(frozen=True)
class Reading:
    text: str                   # what the recogniser saw
    score: float                # its confidence, 0..1
    amount_fen: object          # int, or None when the text holds no amount


def prepare(image):
    """A PIL image of the total field -> grey, dark text on light, with a margin: the form the
    recogniser was trained on (dark POS themes would otherwise read worse)."""
    from PIL import ImageOps, ImageStat

    grey = image.convert("L")
    if ImageStat.Stat(grey).mean[0] < 128:
        grey = ImageOps.invert(grey)
    grey = ImageOps.autocontrast(grey)
    margin = max(4, grey.height // 6)
    return ImageOps.expand(grey, border=margin, fill=255)


class AmountReader:
    min_score = 0.5             # below this the recogniser is guessing: no amount

    def __init__(self, labels=TOTAL_LABELS):
        self.labels = tuple(labels)
        self._engine = None
        self._lock = threading.Lock()

    def _load(self):
        if self._engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:
                raise OcrUnavailable("screen reading needs the rapidocr and onnxruntime packages (%s)"
                                     % exc) from None
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            self._engine = RapidOCR(params={"Global.log_level": "warning", "Global.use_det": False,
                                            "Global.use_cls": False, "Global.text_score": 0.0})
        return self._engine

    def warm_up(self):
        """Load the model now rather than on the first read (it takes a fraction of a second)."""
        from PIL import Image
        self.read(Image.new("RGB", (120, 32), "white"))

    def recognise(self, image):
        import numpy
        engine = self._load()
        picture = numpy.asarray(prepare(image).convert("RGB"))
        with self._lock:        # one ONNX session; keep calls from two threads apart
            result = engine(picture, use_det=False, use_cls=False, use_rec=True)
        texts = result.txts or ()
        scores = result.scores or ()
        text = " ".join(texts).strip()
        score = float(min(scores)) if scores else 0.0
        return text, score

    def read(self, image):
        text, score = self.recognise(image)
        amount_fen = find_total(text, self.labels) if score >= self.min_score else None
        return Reading(text, score, amount_fen)
