"""URL table."""
from aiohttp import web

from .views import device_api


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/d/v1/{op}", device_api.device_op)
