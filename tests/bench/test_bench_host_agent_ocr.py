"""Benchmark: the host agent reading the amount due off generated POS cashier screens.

Each sample is a cashier screen from hw_sim.pos.screen, grabbed as the agent grabs it
(hw_sim.pos.ocr_corpus: the calibrated region, sometimes with a margin of the screen round it, display
scaling, blur, JPEG artefacts) and read by `host_agent.ocr.AmountReader` exactly as the agent reads
it. 12 % of the screens hold a trap: a subtotal above the total, "TOTAL QTY", a subtotal alone, two
totals, split digits, a misplaced separator, a region cutting through the number; where no total can
be told the right answer is no reading.

Five parts, reported separately:
- tuning: the TUNING palette (14 fonts: DejaVu, Liberation, WenQuanYi, DSEG7 Classic regular/bold/
  italic, DSEG7 Modern, DSEG14 Classic, round-dot LED; 6 themes; 13 label and currency formats),
  seed 1: the screens the reader was tuned on. Tuning seeds 2-8 were looked at too (their misses
  diagnosed; seeds 1-8, 4,800 screens, gave no wrong amount with this change).
- held-out, seeds 9001, 9002, 9003 and 9004, half of whose choices come from styles never used in tuning
  (HELD_OUT_ONLY): fonts Liberation Serif, DejaVu Sans Condensed, DSEG7 Modern Bold Italic, DSEG7
  Classic Mini, square-dot 5x7 LED (its unlit dots showing with "ghost"); the amber theme; the labels
  应付, 总计, AMOUNT DUE, 实收 and the "元" suffix. Seed 9001's misses were never looked at, only its
  figures. Held-out seeds 1, 2026 and 4242 were looked at during earlier development (a seven-
  segment "379.3.00" read as 3793.00 on seed 4242 was left). Seed 9002 was added as a fresh part and
  its first run printed one wrong amount (two lines of a square-dot LED field taken as one, read as
  the lower line's total: the "two totals" trap), which was then fixed as a class (a total sharing
  its line with text above refuses), so 9002 is no longer fresh; seed 9003 was added after that and
  run once: its wrong amount (a DSEG7 Classic Mini "35.7.00" read as 357.00, its first point never
  found, the class of seed 4242's) was then closed as a class from the tuning palette's own screens
  (a point joined to a segment digit's corner is looked for between every two digits read; an
  unlit segment cut by the region's side refuses, which tuning seed 8's one wrong amount, a cut
  ¥121.70, needed), so 9003 is no longer fresh either. Seed 9004 was added after that and run
  once; its misses were not looked at. For that change tuning seeds 1-8 were run (4,800 screens,
  no wrong amount) and their misses looked at; of the held-out parts only the figures.

Figures now (tuning / 9001 / 9002 / 9003 / 9004): 97.38 / 92.31 / 91.71 / 90.39 / 90.15 % exact;
0 wrong amounts on every part; 2.62 / 7.69 / 8.29 / 9.61 / 9.85 % no reading; traps refused 66/66,
54/54, 45/45, 59/59, 52/52; latency p50 46.8 / 48.6 / 44.0 / 45.3 / 45.8 ms, p95 117 / 123 / 119 /
118 / 116 ms, on 2 cores with a load average of 2.8 (2.7 over five minutes) from other jobs at the
start. The change: an LED panel's one-line field that gave no amount is read again from its lit
dots as solid strokes, and narrower if that picture is unsure or reads no label (host_agent/ocr.py,
7), its label needed and its number confirmed by the usual picture. Tuned on tuning seeds 1-8 only
(4,800 screens: 4,276 -> 4,286 of 4,376 totals exact, no wrong amount; a first version that took
a number whose label the strokes picture lost charged a subtotal on seed 8 and was not kept); of
the held-out parts only the figures were looked at. Seven-segment misses are unchanged. The
strokes picture alone (the commit before, its narrower read not yet there) gave the same figures
per part, p50 51.6 / 49.6 / 44.6 / 45.2 / 45.5 ms with a load average of 2.5.
Before it (tuning / 9001 / 9002 / 9003 / 9004): 97.00 / 92.12 / 91.71 / 90.39 / 90.15 % exact, 0
wrong amounts, p50 52-65 ms with a load average of 3.4. Before the joined-point check (tuning /
9001 / 9002 / 9003): 97.19 / 92.12 / 92.07 / 90.57 % exact, 0 / 0 / 0 / 1
wrong amounts (and one on tuning seed 8), p50 ~45 ms idle. The joined-point check costs a few
readings (a small ordinary or italic total whose thin strokes look like segments, a "1"'s foot or
a bar's end taken for a point: 9 of the 4,800 tuning screens). Open: a segment total
blurred or scaled so much that its digits no longer look like a segment display's may still lose a
joined second point (tests/host_agent/test_ocr_points.py, OPEN). The goal, >= 99.5 % exact on
every part, is not met; p50 <= 50 ms is met on the held-out parts this run, not on tuning.

Reported per part: exact-read % (of the screens showing a total to take), wrong amounts (any amount
other than the right one, traps included: the goal is 0), no-reading %, traps refused, and the read
latency p50/p95 (one core of this machine; the agent runs ONNX on one thread). Goals: >= 99.5 %
exact, 0 wrong amounts, p50 <= 50 ms. Only a wrong amount fails the benchmark; the others are
reported, met or not.

    .venv/bin/python -m pytest -q tests/bench/test_bench_host_agent_ocr.py -p no:cacheprovider
Results are printed and written to var/bench/ocr.json (about three minutes on an idle machine).
"""
import json
import os
import statistics
import time

from host_agent.ocr import AmountReader
from hw_sim.pos.ocr_corpus import corpus

SCREENS = 600               # per part
EXACT_GOAL = 0.995
P50_GOAL_MS = 50.0
PARTS = {"tuning": dict(seed=1, held_out=False), "held_out": dict(seed=9001, held_out=True),
         "held_out_9002": dict(seed=9002, held_out=True), "held_out_9003": dict(seed=9003, held_out=True),
         "held_out_9004": dict(seed=9004, held_out=True)}


def run_part(reader, samples):
    latencies, exact, wrong, missed, refused = [], 0, [], [], 0
    totals = sum(1 for sample in samples if sample.expected_fen is not None)
    for sample in samples:
        image = sample.image()
        started = time.perf_counter()
        reading = reader.read(image)
        latencies.append((time.perf_counter() - started) * 1000)
        if reading.amount_fen == sample.expected_fen:
            if sample.expected_fen is None:
                refused += 1
            else:
                exact += 1
        elif reading.amount_fen is not None:
            wrong.append({"screen": sample.describe(), "shown": sample.shot().text, "read": reading.text,
                          "amount_read": reading.amount_fen, "right": sample.expected_fen})
        else:
            missed.append({"screen": sample.describe(), "read": reading.text, "why": reading.why})
    latencies.sort()
    return {
        "screens": len(samples),
        "screens_with_a_total": totals,
        "traps": len(samples) - totals,
        "exact": exact,
        "exact_pct": round(100.0 * exact / totals, 2),
        "wrong_amounts": len(wrong),
        "no_reading": len(missed),
        "no_reading_pct": round(100.0 * len(missed) / totals, 2),
        "traps_refused": refused,
        "latency_ms": {"p50": round(statistics.median(latencies), 1),
                       "p95": round(latencies[int(len(latencies) * 0.95)], 1),
                       "max": round(latencies[-1], 1)},
        "why_no_reading": {why: sum(1 for miss in missed if miss["why"] == why)
                           for why in sorted({miss["why"] for miss in missed})},
        "wrong": wrong,
        "missed": missed,
    }


def test_bench_ocr_accuracy_and_latency(capsys):
    reader = AmountReader()
    reader.warm_up()
    result = {"cpu_count": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
              "goals": {"exact_pct": EXACT_GOAL * 100, "wrong_amounts": 0, "p50_ms": P50_GOAL_MS}}
    for part, kwargs in PARTS.items():
        result[part] = run_part(reader, corpus(SCREENS, **kwargs))
        result[part]["goals_met"] = {
            "exact": result[part]["exact_pct"] >= EXACT_GOAL * 100,
            "wrong_amounts": result[part]["wrong_amounts"] == 0,
            "p50": result[part]["latency_ms"]["p50"] <= P50_GOAL_MS}
    os.makedirs("var/bench", exist_ok=True)
    with open("var/bench/ocr.json", "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=2)
    with capsys.disabled():
        print()
        for part in PARTS:
            figures = result[part]
            print("host agent OCR, %s: %d/%d exact (%.2f%%), %d wrong amounts, %.2f%% no reading, %d/%d traps "
                  "refused; latency p50 %.1f ms, p95 %.1f ms" % (
                      part, figures["exact"], figures["screens_with_a_total"], figures["exact_pct"],
                      figures["wrong_amounts"], figures["no_reading_pct"], figures["traps_refused"],
                      figures["traps"], figures["latency_ms"]["p50"], figures["latency_ms"]["p95"]))
            for miss in figures["wrong"]:
                print("  WRONG: %(screen)s shown %(shown)r read %(read)r" % miss)
    for part in PARTS:
        assert result[part]["wrong_amounts"] == 0, result[part]["wrong"]
