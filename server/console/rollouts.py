"""Console: staged firmware rollouts, for operators (docs/console.md). The logic is server/rollouts.py's,
the same functions the operations API calls (server/views/ops_api.py); this module only reads and asks.

    GET  /console/rollouts                    rollouts with per-device status counts; the start form
    POST /console/rollouts/confirm            the start form, checked: what would happen, to confirm
    POST /console/rollouts                    start it: the rollout and its first stage
    GET  /console/rollouts/{id}               stages, devices, the add-stage form, stop
    POST /console/rollouts/{id}/stages        offer the build to the next stage
    GET  /console/rollouts/{id}/stop          stop, to confirm (with a reason)
    POST /console/rollouts/{id}/stop          stop it: offers not taken yet are withdrawn
"""
from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import params, rollouts
from ..keys import SETTINGS, STORAGE
from ..refusals import N_, Refused
from ..views.ops_api import NAME
from . import i18n
from .auth import logged_in_user, login_required, redirect, render

log = logging.getLogger(__name__)

_LIST_LIMIT = 100
_DEVICE_LIMIT = 500
_MIN_SETTLED_DIGITS = 6


class FormError(Refused):
    """The start or stage form is not right; the message is for the page (`text(gettext)`)."""

    def text(self, gettext) -> str:
        values = {key: gettext(value) if key == "name" else value for key, value in self.values.items()}
        return gettext(self.template) % values if values else gettext(self.template)


def _error_text(request: web.Request, error: FormError) -> str:
    return error.text(functools.partial(i18n.gettext, request))


@dataclass(frozen=True)
class Stage:
    share: float | None          # 0 < share <= 1
    groups: list[str] | None
    last: bool

    def describe(self) -> str:
        target = f"{_pct(self.share)} of the profile's devices" if self.share is not None \
            else "groups " + ", ".join(self.groups or [])
        return target + (" (last stage)" if self.last else "")

    def text(self, request: web.Request) -> str:
        """describe() in the reader's language, for the confirmation page."""
        _ = functools.partial(i18n.gettext, request)
        target = _("%(share)s of the profile's devices") % {"share": _pct(self.share)} if self.share is not None \
            else _("groups %(groups)s") % {"groups": ", ".join(self.groups or [])}
        return target + (_(" (last stage)") if self.last else "")


@dataclass(frozen=True)
class StartForm:
    profile: str
    version: str
    failure_threshold: float     # 0..1
    min_settled: int
    stage: Stage


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:g}%"


def _percent(text: str, name: str, *, zero_ok: bool) -> float:
    """A percentage as typed ("10", "2.5%") as a share 0..1; zero only when `zero_ok`."""
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise FormError(N_("%(name)s must be a number of percent"), name=name) from None
    if math.isnan(value) or value > 100 or value < 0 or (value == 0 and not zero_ok):
        raise FormError(N_("%(name)s must be 0 to 100 percent") if zero_ok
                        else N_("%(name)s must be more than 0 to 100 percent"), name=name)
    return value / 100


def parse_stage(form: Any) -> Stage:
    kind = str(form.get("target", "share"))
    last = str(form.get("last", "")) in ("1", "on", "true")
    if kind == "groups":
        groups = [g.strip() for g in str(form.get("groups", "")).replace(",", " ").split() if g.strip()]
        if not groups or len(groups) > 100 or not all(NAME.match(g) for g in groups):
            raise FormError(N_("Groups: one or more group names (letters, digits, _ . -), separated by spaces or "
                               "commas"))
        return Stage(share=None, groups=groups, last=last)
    return Stage(share=_percent(str(form.get("share", "")), N_("The share"), zero_ok=False),
                 groups=None, last=last)


def parse_start(form: Any, default_min_settled: int) -> StartForm:
    release = str(form.get("release", ""))
    profile, _, version = release.partition(" ")
    if not NAME.match(profile) or not NAME.match(version):
        raise FormError(N_("Choose a published release"))
    threshold = _percent(str(form.get("failure_threshold", "")), N_("The failure threshold"), zero_ok=True)
    min_settled_text = str(form.get("min_settled", "") or default_min_settled).strip()
    try:
        min_settled = params.digits(min_settled_text, "Stop only after", max_len=_MIN_SETTLED_DIGITS)
    except params.InvalidParameter:     # "²" and "١" are digits to str.isdigit(), not to us
        min_settled = 0
    if min_settled < 1:
        raise FormError(N_("Stop only after: a whole number of devices, at least 1"))
    return StartForm(profile, version, threshold, min_settled, parse_stage(form))


# reads

async def list_rollouts(storage) -> list[dict[str, Any]]:
    listed = []
    for rollout in await rollouts.list_rollouts(storage, _LIST_LIMIT):
        listed.append({**await rollouts.status(storage, rollout), "created_at": rollout["created_at"],
                       "stages_count": rollout["stages"], "min_settled": rollout["min_settled"],
                       "stopped_at": rollout["stopped_at"]})
    return listed


async def stage_reach(storage, profile: str, stage: Stage, rollout_id: str | None = None) -> dict[str, int]:
    """How many active devices of the profile there are, and how many the stage would offer the build to."""
    devices, offered = await storage.stage_candidates(profile, rollout_id)
    chosen = rollouts.stage_devices(devices, offered, share=stage.share, groups=stage.groups)
    return {"devices": len(devices), "reach": len(chosen)}


async def _rollout_or_404(request: web.Request) -> dict[str, Any]:
    rollout_id = params.text_part(request.match_info["rollout_id"], "rollout id", params.ID)
    rollout = await rollouts.get_rollout(request.app[STORAGE], rollout_id)
    if rollout is None:
        raise web.HTTPNotFound(reason=N_("There is no such rollout."))
    return rollout


# pages

async def _list_page(request: web.Request, *, error: str | None = None, form: Any = None,
                     status: int = 200) -> web.Response:
    storage = request.app[STORAGE]
    return render(request, "rollouts/list.html", {
        "rollouts": await list_rollouts(storage), "releases": await storage.published_releases(),
        "error": error, "form": form or {}, "default_min_settled": request.app[SETTINGS].ops.min_settled},
        status=status)


@login_required("operator")
async def rollout_list(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


async def _checked_start(request: web.Request, form: Any) -> StartForm:
    storage = request.app[STORAGE]
    start = parse_start(form, request.app[SETTINGS].ops.min_settled)
    if await rollouts.get_release(storage, start.profile, start.version) is None:
        raise FormError(N_("%(profile)s %(version)s has not been published"), profile=start.profile,
                        version=start.version)
    running = await storage.active_rollout_of(start.profile)
    if running is not None:
        raise FormError(N_("Rollout %(id)s of %(profile)s %(version)s is still under way: stop it first"),
                        id=running["id"], profile=start.profile, version=running["version"])
    return start


@login_required("operator")
async def start_confirm(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        start = await _checked_start(request, form)
    except FormError as e:
        return await _list_page(request, error=_error_text(request, e), form=form, status=400)
    reach = await stage_reach(request.app[STORAGE], start.profile, start.stage)
    return render(request, "rollouts/confirm_start.html", {"start": start, "reach": reach, "form": form,
                                                           "stage_text": start.stage.text(request)})


@login_required("operator")
async def start(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        start_form = await _checked_start(request, form)
    except FormError as e:
        return await _list_page(request, error=_error_text(request, e), form=form, status=400)
    storage = request.app[STORAGE]
    user = logged_in_user(request)
    rollout_id = await rollouts.create_rollout(storage, start_form.profile, start_form.version,
                                               start_form.failure_threshold, start_form.min_settled)
    rollout = await rollouts.get_rollout(storage, rollout_id)
    if rollout is None:
        raise LookupError(f"rollout {rollout_id} is gone right after it was created")
    count = await _add_stage(request, rollout, start_form.stage)
    log.info("console: %s started rollout %s of %s %s (%s: %d devices)", user.username, rollout_id,
             start_form.profile, start_form.version, start_form.stage.describe(), count)
    return redirect(f"/console/rollouts/{rollout_id}")


async def _add_stage(request: web.Request, rollout: dict[str, Any], stage: Stage) -> int:
    settings = request.app[SETTINGS]
    return await rollouts.add_stage(request.app[STORAGE], rollout, share=stage.share, groups=stage.groups,
                                    public_url=settings.device_api.public_url,
                                    url_ttl_s=settings.ops.firmware_url_ttl_s, last=stage.last)


async def _detail_page(request: web.Request, rollout: dict[str, Any], *, error: str | None = None,
                       status: int = 200) -> web.Response:
    storage = request.app[STORAGE]
    return render(request, "rollouts/detail.html", {
        "rollout": rollout, "status": await rollouts.status(storage, rollout),
        "devices": await storage.rollout_devices(rollout["id"], _DEVICE_LIMIT), "device_limit": _DEVICE_LIMIT,
        "takes_stages": rollout["state"] == rollouts.RUNNING, "stoppable": rollout["state"] in rollouts.ACTIVE,
        "error": error}, status=status)


@login_required("operator")
async def rollout_detail(request: web.Request) -> web.StreamResponse:
    return await _detail_page(request, await _rollout_or_404(request))


@login_required("operator")
async def add_stage(request: web.Request) -> web.StreamResponse:
    rollout = await _rollout_or_404(request)
    form = await request.post()
    if rollout["state"] != rollouts.RUNNING:
        return await _detail_page(request, rollout, status=409,
                                  error=i18n.gettext(request, "This rollout takes no more stages."))
    try:
        stage = parse_stage(form)
        count = await _add_stage(request, rollout, stage)
    except FormError as e:
        return await _detail_page(request, rollout, error=_error_text(request, e), status=400)
    except rollouts.RolloutError as e:     # stopped meanwhile (the failure threshold, another operator)
        return await _detail_page(request, await _rollout_or_404(request), status=409, error=i18n.gettext(
            request, "The rollout changed meanwhile: %(reason)s") % {"reason": i18n.refusal_text(request, str(e))})
    log.info("console: %s added a stage to rollout %s (%s: %d devices)", logged_in_user(request).username,
             rollout["id"], stage.describe(), count)
    return redirect(f"/console/rollouts/{rollout['id']}")


@login_required("operator")
async def stop_confirm(request: web.Request) -> web.StreamResponse:
    rollout = await _rollout_or_404(request)
    return render(request, "rollouts/confirm_stop.html", {
        "rollout": rollout, "status": await rollouts.status(request.app[STORAGE], rollout),
        "stoppable": rollout["state"] in rollouts.ACTIVE})


@login_required("operator")
async def stop(request: web.Request) -> web.StreamResponse:
    rollout = await _rollout_or_404(request)
    form = await request.post()
    user = logged_in_user(request)
    reason = str(form.get("reason", "")).strip()[:500] or "stopped by an operator"
    if not params.is_text(reason, 500):       # NUL and the like: PostgreSQL stores no such text
        return await _detail_page(request, rollout, status=400,
                                  error=i18n.gettext(request, "Why: text without control characters"))
    if await rollouts.stop(request.app[STORAGE], rollout["id"], f"{reason} ({user.username}, console)"):
        log.info("console: %s stopped rollout %s", user.username, rollout["id"])
    return redirect(f"/console/rollouts/{rollout['id']}")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/rollouts", rollout_list)
    app.router.add_post("/console/rollouts/confirm", start_confirm)
    app.router.add_post("/console/rollouts", start)
    app.router.add_get("/console/rollouts/{rollout_id}", rollout_detail)
    app.router.add_post("/console/rollouts/{rollout_id}/stages", add_stage)
    app.router.add_get("/console/rollouts/{rollout_id}/stop", stop_confirm)
    app.router.add_post("/console/rollouts/{rollout_id}/stop", stop)
