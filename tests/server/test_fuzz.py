"""Property-based fuzzing of every input (issue 18): whatever a client sends, the server answers, never with
a 5xx, and a request it refuses (4xx) stores nothing.

The real app from the factory on SQLite, seeded with merchants, devices, console users, orders, a refund,
C2B orders, a published release and a rollout (tests/server/fuzz_inputs.py, which also holds the case
generators and the judging harness, shared with tests/bench/test_bench_fuzz.py). Hypothesis draws the
cases, derandomized and without an example database, so every run sends the same requests; problems are
collected over the whole run and reported together (distinct causes, each with its shortest request),
rather than shrunk one at a time.

Cases per run (`make test`): device API 2,500 (every op, JSON and CBOR, signed, unsigned and badly signed),
URL patterns 1,200 (every route of the app, hostile placeholders and headers, with and without a console
login), console query parameters 1,000 and console forms 600 (as an operator and as a merchant user, valid
CSRF token), operations API 700, WeChat notifications 300, C2B landing pages 400: 6,700 requests, about 25 s
of CPU (30 s on 2 idle cores).
FUZZ_SCALE=<factor> multiplies them (tests/bench/test_bench_fuzz.py runs 100,000).
"""
from __future__ import annotations

import asyncio
import os

import pytest
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.server.fuzz_inputs import (
    AREAS, CONSOLE_PAGES, DEVICE_OPS, Case, Findings, cases, console_forms, fuzz_target, placeholder_pools,
    placeholders,
)
from server.keys import STORAGE
from server.views.device_api import OPS

SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES = {"device": 2500, "url": 1200, "console_query": 1000, "console_form": 600, "ops": 700, "notify": 300,
            "c2b": 400}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """(event loop, target): one seeded server for the module; the tests are synchronous (hypothesis drives
    them) and run each request to completion on this loop."""
    loop = asyncio.new_event_loop()
    running = fuzz_target(tmp_path_factory.mktemp("fuzz"))
    target = loop.run_until_complete(running.__aenter__())
    try:
        yield loop, target
    finally:
        loop.run_until_complete(running.__aexit__(None, None, None))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def test_every_device_op_is_fuzzed():
    # A new op must be added to the fuzzer's field table (fuzz_inputs._device_fields).
    assert set(DEVICE_OPS) == set(OPS) | {"activate"}


def test_every_route_is_fuzzed(fuzzed):
    # Every route gets hostile placeholders (url area) with a pool of well-formed values for each; every
    # console page its query parameters, every console form its fields. A new one must be added there.
    _, target = fuzzed
    world = target.world
    names = {name for pattern, _ in world.routes for name in placeholders(pattern)}
    assert names <= set(placeholder_pools(world)), names - set(placeholder_pools(world))
    console = [(pattern, methods) for pattern, methods in world.routes
               if pattern.startswith("/console") and pattern != "/console/static"]
    assert {pattern for pattern, methods in console if "GET" in methods} == set(CONSOLE_PAGES)
    assert {pattern for pattern, methods in console if "POST" in methods} == set(console_forms(world))


@pytest.mark.parametrize("area", list(AREAS))
def test_no_input_gets_a_5xx_or_stores_a_refused_request(fuzzed, area):
    loop, target = fuzzed
    findings = Findings()

    @settings(max_examples=max(1, int(EXAMPLES[area] * SCALE)), deadline=None, derandomize=True, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @given(st.data())
    def send(data):
        outcome = loop.run_until_complete(target.send(data.draw(cases(target.world, area))))
        if outcome.problem:
            findings.add(outcome)

    send()
    assert not findings, f"{len(findings)} distinct problems fuzzing {area}:\n\n{findings.report()}"


# The harness itself: a test that cannot fail is a defect.

async def _fault_500(request: web.Request) -> web.Response:
    raise RuntimeError("fuzz self-check")


async def _fault_drop(request: web.Request) -> web.Response:
    request.transport.close()
    await asyncio.sleep(0.1)
    return web.Response()


async def _fault_write_then_refuse(request: web.Request) -> web.Response:
    await request.app[STORAGE].add_merchant("M-FAULT", "written by a refused request")
    return web.json_response({"error": {"code": "refused", "message": "but wrote"}}, status=400)


def test_the_harness_sees_a_500_a_dropped_connection_and_a_refusal_that_writes(tmp_path):
    def add_faults(app: web.Application) -> None:
        app.router.add_get("/fuzz-check/500", _fault_500)
        app.router.add_get("/fuzz-check/drop", _fault_drop)
        app.router.add_get("/fuzz-check/write", _fault_write_then_refuse)

    async def check() -> None:
        async with fuzz_target(tmp_path, prepare=add_faults) as target:
            seen = {}
            for name in ("500", "drop", "write"):
                outcome = await target.send(Case("check", "GET", f"/fuzz-check/{name}", f"/fuzz-check/{name}"))
                seen[name] = (outcome.problem, outcome.cause)
            ok = await target.send(Case("check", "GET", "/healthz", "/healthz"))
        assert seen["500"][0] == "5xx" and seen["500"][1].endswith("raised in tests/server/test_fuzz.py _fault_500()")
        assert seen["drop"][0] == "no answer"
        assert seen["write"][0] == "4xx wrote"
        assert ok.problem is None and ok.status == 200

    asyncio.run(check())
