"""rapidocr's text recogniser, driven directly for `host_agent.ocr`: each character keeps its own
probability, its place in the picture and its runners-up (rapidocr's result averages a line into one
score, so one doubtful digit in a sure line passed unnoticed).

    recogniser = Recogniser()
    line = recogniser.read([pixels])[0]     # grey uint8, dark text on white, one line each
    line.text, line.chars[0].prob, line.chars[0].others, line.doubt(0, 3)

The model (PP-OCR recognition, ONNX) ships in rapidocr's wheel and runs offline; text detection is
never used: the calibrated region is the text.
"""
import logging
import math
import threading
from dataclasses import dataclass


class OcrUnavailable(RuntimeError):
    """rapidocr or onnxruntime is not installed, or will not load (on Windows: a missing DLL)."""


def ocr_unavailable(what, exc):
    """The OcrUnavailable for a failure to import or load the OCR libraries: what failed, what to do."""
    return OcrUnavailable(
        "屏幕读数所需的 OCR 组件无法%s（%s）：请安装 pip install rapidocr onnxruntime（Windows 还需"
        "微软 VC++ 运行库），或在配置中把 amount_source 改为 pole_display 或 manual / "
        "screen reading cannot %s rapidocr and onnxruntime (%s: %s): install them (pip install rapidocr "
        "onnxruntime; on Windows also the Microsoft Visual C++ Redistributable), or set amount_source "
        'to "pole_display" or "manual" in the config'
        % ("加载" if what == "load" else "导入", exc, what, type(exc).__name__, exc))


def import_rapidocr():
    """rapidocr's RapidOCR class, onnxruntime imported with it; OcrUnavailable saying what to do."""
    try:
        import onnxruntime  # noqa: F401  (rapidocr imports it late; a DLL failure shows here first)
        from rapidocr import RapidOCR
    except Exception as exc:        # ImportError, or OSError from a DLL that will not load
        raise ocr_unavailable("import", exc) from None
    return RapidOCR


@dataclass(frozen=True)
class Char:
    text: str
    prob: float                 # the recogniser's probability for it
    left: float                 # where it is in the picture given (pixels)
    right: float
    first: int                  # the frames of the recogniser's output it came from
    last: int
    others: tuple = ()          # (text, probability) of the next likeliest characters there


@dataclass(frozen=True)
class LineRead:
    text: str
    chars: tuple
    dropped: tuple              # per frame: the likeliest digit or point the decoding did not keep there

    def doubt(self, first_char, last_char):
        """How likely the decoding dropped a digit or a point between two of its characters."""
        first, last = self.chars[first_char].first, self.chars[last_char].last
        return max(self.dropped[first:last + 1], default=0.0)

    def gap_doubt(self, first_char, last_char):
        """How likely the decoding dropped a digit or a point in a gap between two of its
        characters (doubt() also counts a runner-up where a character was kept: a "0" that may be
        an "8")."""
        owned = {t for c in self.chars[first_char:last_char + 1] for t in range(c.first, c.last + 1)}
        first, last = self.chars[first_char].first, self.chars[last_char].last
        return max((self.dropped[t] for t in range(first, last + 1) if t not in owned), default=0.0)


class Recogniser:
    height = 48                 # the model's input height

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def load(self):
        if self._model is None:
            RapidOCR = import_rapidocr()
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            # one thread: the POS program runs on the same PC, and on a busy 2-core PC one thread
            # reads faster than two fighting for the cores
            try:
                engine = RapidOCR(params={"Global.log_level": "warning", "Global.use_det": False,
                                          "Global.use_cls": False, "Global.text_score": 0.0,
                                          "EngineConfig.onnxruntime.intra_op_num_threads": 1})
                model = engine._load_rec_model()        # rapidocr 3.x: its TextRecognizer
            except Exception as exc:    # onnxruntime's own errors (a model or DLL it cannot load)
                raise ocr_unavailable("load", exc) from None
            self._model = model
            self._characters = self._model.postprocess_op.character
            self._money = [self._characters.index(c) for c in "0123456789.,"]
            self._money_column = {index: column for column, index in enumerate(self._money)}
        return self._model

    def read(self, pictures, squeeze=1.0):
        """pictures: grey uint8 arrays, dark text on white -> a LineRead each (one ONNX run).
        `squeeze`: the pictures made this much narrower (a wide segment zero reads as "□" or not
        at all, an italic segment "1" as "1 "; narrower, as the digits of ordinary fonts)."""
        import cv2
        import numpy
        model = self.load()
        scaled = []
        for picture in pictures:
            h, w = picture.shape
            width = max(self.height, int(math.ceil(w * squeeze * self.height / h)))
            scaled.append(cv2.resize(picture, (width, self.height),
                                     interpolation=cv2.INTER_AREA if h > self.height else cv2.INTER_CUBIC))
        batch_width = max(s.shape[1] for s in scaled)
        batch = numpy.zeros((len(scaled), 3, self.height, batch_width), dtype=numpy.float32)
        for i, resized in enumerate(scaled):
            batch[i, :, :, :resized.shape[1]] = resized.astype(numpy.float32) / 127.5 - 1.0
        with self._lock:        # one ONNX session; keep calls from two threads apart
            probs = model.session(batch)
        frames = probs.shape[1]
        return [self._decode(probs[i], frames * s.shape[1] / batch_width,
                             batch_width / frames * picture.shape[1] / s.shape[1])
                for i, (s, picture) in enumerate(zip(scaled, pictures))]

    def _decode(self, probs, used_frames, frame_width):
        """Greedy CTC decoding that keeps, for each character, its frames and runners-up, and for
        each frame the likeliest digit or point it did not emit there."""
        import numpy
        used = min(len(probs), int(math.ceil(used_frames)) + 1)
        probs = probs[:used]
        best = probs.argmax(axis=1)
        spans, previous = [], 0
        for t in range(used):
            index = int(best[t])
            if index != 0 and index != previous:
                spans.append([index, t, t])
            elif index != 0:
                spans[-1][2] = t
            previous = index
        chars = []
        owner = numpy.full(used, -1)
        for n, (index, first, last) in enumerate(spans):
            owner[first:last + 1] = n
            peak = first + int(numpy.argmax(probs[first:last + 1, index]))
            runners = numpy.argpartition(probs[peak], -4)[-4:]
            others = tuple(sorted(((self._characters[int(j)], float(probs[peak, j])) for j in runners
                                   if j not in (0, index)), key=lambda other: -other[1]))
            chars.append(Char(self._characters[index], float(probs[peak, index]), first * frame_width,
                              (last + 1) * frame_width, first, last, others))
        # per frame, the likeliest digit or point other than the characters kept there and beside it
        money = probs[:, self._money].copy()
        for t in range(used):
            for n in {owner[t], owner[max(0, t - 1)], owner[min(used - 1, t + 1)]}:
                if n >= 0 and spans[n][0] in self._money_column:
                    money[t, self._money_column[spans[n][0]]] = 0.0
        return LineRead("".join(c.text for c in chars), tuple(chars), tuple(float(v) for v in money.max(axis=1)))


def spell_words(read, words):
    """The read with unsure words made known ones where the runners-up spell exactly one: "台计"
    where 合计 was second likeliest becomes 合计; a lone letter against the digits where ¥ was nearly
    as likely becomes ¥. Only unsure characters change, at most two per word, only into a word of
    `words` (upper case: labels, other labels, currencies)."""
    import itertools
    import re
    chars = list(read.chars)
    for match in re.finditer(r"(?<![A-Za-z])[A-Za-z](?=\d)", read.text):
        char = chars[match.start()]
        if sum(p for o, p in char.others if o in "¥￥") >= max(0.25, char.prob / 2):
            chars[match.start()] = Char("¥", 0.5, char.left, char.right, char.first, char.last, char.others)
    for match in re.finditer(r"[A-Za-z]+|[\u2e80-\u9fff]+", read.text):
        word = match.group()
        if word.upper() in words or len(word) < 2:
            continue
        places = [i for i in range(match.start(), match.end()) if chars[i].prob < 0.9 and chars[i].others]
        spellings = {}
        for count in (1, 2):
            for chosen in itertools.combinations(places, count):
                for picked in itertools.product(*[[o for o in chars[i].others if o[1] >= 0.05] for i in chosen]):
                    spelled = list(word)
                    for i, (other, _) in zip(chosen, picked):
                        spelled[i - match.start()] = other
                    if "".join(spelled).upper() in words:
                        spellings["".join(spelled)] = tuple(zip(chosen, picked))
            if spellings:
                break
        if len(spellings) == 1:
            for i, (other, prob) in next(iter(spellings.values())):
                chars[i] = Char(other, max(prob, 0.5), chars[i].left, chars[i].right, chars[i].first,
                                chars[i].last, chars[i].others)
    if chars == list(read.chars):
        return read
    return LineRead("".join(c.text for c in chars), tuple(chars), read.dropped)
