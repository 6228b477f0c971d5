"""Benchmark: time from the POS writing a total to its pole display until the agent knows the amount,
over real pseudo-terminals (pyserial on the agent's side), sniffing and in passthrough.

The agent reads the display when the line goes quiet (SerialLink.read_timeout_s, 20 ms), so a total
is known about one quiet gap after its last byte; passthrough forwards each byte before parsing it.

    .venv/bin/python -m pytest -q tests/bench/test_bench_host_agent_pole_display.py -p no:cacheprovider
Results are printed and written to var/bench/host_agent_pole_display.json.
"""
import asyncio
import json
import os
import statistics
import time

import pytest

from host_agent.sources.pole_display import PoleDisplaySource
from hw_sim.pos.pole_display import PoleDisplayRecorder, PosCashier, PseudoSerial

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
