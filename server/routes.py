"""URL table."""
from aiohttp import web

from . import console
from .views import device_api, landing, operations, ops_api


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/d/v1/{op}", device_api.device_op)
    app.router.add_get("/healthz", operations.healthz)
    app.router.add_get("/metrics", operations.metrics)
    ops_api.setup(app)   # operations API /ops/v1/... and device firmware downloads
    landing.setup(app)   # C2B landing pages /c/... (and their HTTP session)
    console.setup(app)   # web console /console/... (login, orders, devices, monitoring, ...)
