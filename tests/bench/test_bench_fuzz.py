"""Fuzz benchmark (`make bench`): the fuzz harness of tests/server/fuzz_inputs.py, run for FUZZ_CASES
(default 100,000) requests, printed and written to var/bench/fuzz.json. Fails if any request got a 5xx,
no answer, or was refused (4xx) after writing to the database.

The same generators and pools as tests/server/test_fuzz.py, driven by a seeded random.Random (FUZZ_SEED,
default 18) instead of hypothesis: the same run every time, about 2 ms a case. The app runs in this process
on aiohttp's test server, with the WeChat and Alipay sandboxes; requests go one at a time, so each one's
effect on the database is its own. The JSON has cases and answers by status class per area, the distinct
problems with their counts and shortest reproducers, and the run's time and rate.
"""
from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import sys
import time
from pathlib import Path

from tests.server.fuzz_inputs import AREAS, Findings, RandomChooser, fuzz_target, make_case  # the server tests' harness

ROOT = Path(__file__).resolve().parents[2]

CASES = int(os.environ.get("FUZZ_CASES", "100000"))
SEED = int(os.environ.get("FUZZ_SEED", "18"))
OUT = ROOT / "var" / "bench" / "fuzz.json"
# Share of the cases per area (the device API most: it is what every device on the internet talks to).
WEIGHTS = {"device": 40, "url": 15, "console_query": 13, "console_form": 12, "ops": 8, "notify": 6, "c2b": 6}


def _schedule(total: int) -> list[str]:
    """Areas in a fixed interleaved order: each area's cases spread over the whole run."""
    areas = [area for area, weight in WEIGHTS.items() for _ in range(weight)]
    return [areas[i % len(areas)] for i in range(total)]


async def _run(tmp: Path) -> dict:
    findings = Findings()
    answers: dict[str, collections.Counter] = {area: collections.Counter() for area in AREAS}
    chooser = RandomChooser(random.Random(SEED))
    started = time.monotonic()
    async with fuzz_target(tmp) as target:
        seeded = time.monotonic()
        for area in _schedule(CASES):
            outcome = await target.send(make_case(chooser, target.world, area))
            answers[area]["no answer" if outcome.status is None else f"{outcome.status // 100}xx"] += 1
            if outcome.problem:
                findings.add(outcome)
        finished = time.monotonic()
    problems = collections.Counter()
    for count, outcome in findings.by_cause.values():
        problems[outcome.problem] += count
    return {
        "cases": CASES, "seed": SEED, "seconds": round(finished - seeded, 1),
        "setup_seconds": round(seeded - started, 1),
        "cases_per_s": round(CASES / (finished - seeded), 1),
        "cases_by_area": {area: sum(counts.values()) for area, counts in answers.items()},
        "answers_by_area": {area: dict(sorted(counts.items())) for area, counts in answers.items()},
        "answers": dict(sorted(sum(answers.values(), collections.Counter()).items())),
        "count_5xx": problems["5xx"], "count_no_answer": problems["no answer"],
        "count_4xx_wrote": problems["4xx wrote"],
        "distinct_problems": len(findings), "problems": findings.as_json(),
    }


def test_fuzz_benchmark(tmp_path):
    results = asyncio.run(_run(tmp_path))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print()
    print(f"fuzz: {results['cases']} cases in {results['seconds']} s ({results['cases_per_s']}/s, seed {SEED}; {OUT})")
    for area, counts in results["answers_by_area"].items():
        print(f"  {area:14s} {results['cases_by_area'][area]:7d}  " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"  5xx {results['count_5xx']}, no answer {results['count_no_answer']}, refused but wrote "
          f"{results['count_4xx_wrote']}: {results['distinct_problems']} distinct problems")
    for problem in results["problems"]:
        print(f"    {problem['count']:6d}x {problem['cause']}")
    assert results["distinct_problems"] == 0, "\n\n".join(
        f"{p['cause']} ({p['count']}x)\n{p['reproducer']}\n" + "\n".join(p["traceback"]) for p in results["problems"])
