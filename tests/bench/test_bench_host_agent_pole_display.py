"""Benchmarks of the pole-display amount source.

1. Latency: time from the POS writing a total to its pole display until the agent knows the amount,
   over real pseudo-terminals (pyserial on the agent's side), sniffing and in passthrough. The reader
   models the display, so a total is known as soon as its last byte is read (no quiet gap to wait for);
   passthrough forwards each read before it is parsed. -> var/bench/host_agent_pole_display.json
2. Accuracy (issue 13): generated POS streams (hw_sim.pos.pole_display.pole_corpus: LED with four lamp
   dialects in both lamp orders, CD5220, Epson, plain text; labels, layouts, encodings, currencies,
   subtotals, quantities, redraws, receipts through the display, streams heard from halfway), each read
   in one burst, per cashier action, byte by byte and in random reads, with the protocol told from the
   bytes. Totals reported exactly / missed / wrong / repeated, for the TUNING set and, separately, a
   HELD_OUT set (other seeds, half its choices from styles never tuned on). Goal: 0 wrong.
   -> var/bench/pole_display.json

    .venv/bin/python -m pytest -q tests/bench/test_bench_host_agent_pole_display.py -p no:cacheprovider
"""
import asyncio
import json
import os
import random
import statistics
import time
from collections import Counter

import pytest

from host_agent.pole_display import PoleDisplayReader
from host_agent.sources.pole_display import PoleDisplaySource
from hw_sim.pos.pole_display import PoleDisplayRecorder, PosCashier, PseudoSerial, pole_corpus

TOTALS = 100
RESULTS = {}


async def measure(protocol, mode):
    pos_port, display_port = PseudoSerial(), PseudoSerial()
    display = PoleDisplayRecorder(display_port) if mode == "passthrough" else None
    source = PoleDisplaySource(pos_port.path, mode=mode, protocol=protocol,
                               display_port=display_port.path if mode == "passthrough" else None)
    pos = PosCashier(pos_port, protocol)
    known = asyncio.Queue()
    task = asyncio.create_task(source.run(lambda reading: known.put_nowait((time.perf_counter(), reading))))
    latencies = []
    try:
        await asyncio.sleep(0)
        assert await asyncio.to_thread(source.wait_open, 5)
        for i in range(TOTALS):
            amount_fen = 100 + i * 37
            await asyncio.to_thread(pos.show_item, amount_fen // 3)
            await asyncio.sleep(0.05)
            written = time.perf_counter()
            await asyncio.to_thread(pos.show_total, amount_fen)
            at, reading = await asyncio.wait_for(known.get(), 5)
            assert reading.amount_fen == amount_fen
            latencies.append((at - written) * 1000)
            await asyncio.to_thread(pos.clear)
            await asyncio.sleep(0.05)
        if display:
            assert await asyncio.to_thread(display.wait_for, len(pos.written)) == bytes(pos.written)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if display:
            display.stop()
        pos_port.close()
        display_port.close()
    latencies.sort()
    return {"totals": TOTALS, "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(latencies[int(len(latencies) * 0.95)], 1), "max_ms": round(latencies[-1], 1)}


@pytest.mark.parametrize("protocol, mode", [("led8n", "sniff"), ("led8n", "passthrough"),
                                            ("cd5220", "sniff"), ("epson", "passthrough")])
async def test_bench_pos_total_to_agent(protocol, mode, capsys):
    result = await measure(protocol, mode)
    RESULTS["%s/%s" % (protocol, mode)] = result
    os.makedirs("var/bench", exist_ok=True)
    with open("var/bench/host_agent_pole_display.json", "w") as f:
        json.dump(RESULTS, f, indent=2)
    with capsys.disabled():
        print("\nPOS total -> agent over pty, %s %s: p50 %.1f ms, p95 %.1f ms, max %.1f ms (%d totals)"
              % (protocol, mode, result["p50_ms"], result["p95_ms"], result["max_ms"], result["totals"]))


# ---------------------------------------------------------------------------------------------- accuracy
STREAMS = 250                   # per set, 6 sales each
SETS = {"tuning": dict(seed=2026, held_out=False), "held_out": dict(seed=31337, held_out=True)}
SPLITS = ("burst", "actions", "bytes", "random")
ACCURACY = {}


def read_stream(stream, how, seed):
    """The installer's config: protocol not named, the display's lamp vendor, everything else default."""
    style = stream.style
    reader = PoleDisplayReader(lamps="wintec" if style.lamps == "stx" else style.lamps)
    shown = []
    for chunk in stream.chunks(how, random.Random(seed)):
        shown += [(t.amount_fen, t.offset) for t in reader.feed(chunk)]
    return shown


def kind(stream):
    style = stream.style
    if style.protocol == "led8n":
        return "led8n/%s/%s" % (style.lamps, "lamp_first" if style.lamp_first else "value_first")
    return "%s/%s" % (style.protocol, style.line_writer)


@pytest.mark.parametrize("name", list(SETS))
def test_bench_pole_display_accuracy(name, capsys):
    started = time.perf_counter()
    corpus = pole_corpus(STREAMS, **SETS[name])
    totals, by_split, by_kind = Counter(), {how: Counter() for how in SPLITS}, {}
    wrong, split_dependent = [], 0
    for i, stream in enumerate(corpus):
        readings = {how: read_stream(stream, how, i) for how in SPLITS}
        split_dependent += any(r != readings["burst"] for r in readings.values())
        for how, shown in readings.items():
            score = stream.score(shown)
            by_split[how].update(score)
            totals.update(score)
            by_kind.setdefault(kind(stream), Counter()).update(score)
            if score["wrong"] or score["repeated"]:
                wrong.append({"stream": i, "split": how, "style": repr(stream.style), "sales": stream.sales,
                              "shown": shown})
    result = {
        "streams": len(corpus), "sales_read": totals["exact"] + totals["missed"], "splits": list(SPLITS),
        "exact": totals["exact"], "missed": totals["missed"], "wrong": totals["wrong"],
        "repeated": totals["repeated"], "split_dependent_streams": split_dependent,
        "mid_start_streams": sum(s.mid_start for s in corpus),
        "by_split": {how: dict(c) for how, c in by_split.items()},
        "by_kind": {k: dict(c) for k, c in sorted(by_kind.items())},
        "seconds": round(time.perf_counter() - started, 1),
        "wrong_detail": wrong[:20],
    }
    ACCURACY[name] = result
    os.makedirs("var/bench", exist_ok=True)
    with open("var/bench/pole_display.json", "w", encoding="utf-8") as f:
        json.dump(ACCURACY, f, ensure_ascii=False, indent=2)
    with capsys.disabled():
        print("\npole display %s: %d streams x %d splits, %d sale totals: %d exact, %d missed, %d wrong, "
              "%d repeated (%.1f s)" % (name, result["streams"], len(SPLITS), result["sales_read"], result["exact"],
                            result["missed"], result["wrong"], result["repeated"], result["seconds"]))
        for k, c in sorted(by_kind.items()):
            if c["missed"] or c["wrong"]:
                print("  %-28s exact %4d  missed %3d  wrong %d" % (k, c["exact"], c["missed"], c["wrong"]))
    assert result["wrong"] == 0 and result["repeated"] == 0
    assert result["split_dependent_streams"] == 0
