"""The server's listening socket and the port it got.

`python -m server run` binds its socket before anything else starts: a port that cannot be served is said in
one line before the database is opened, and port 0 is whichever free port the system gives, held from then on
(finding a free port and binding it later leaves a moment in which another process can take it). Once the app
has started, the address is logged and, for a parent process that waits for it, the port written to a file.
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from aiohttp import web

log = logging.getLogger("server.listening")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: any free port); OSError when the port cannot be had."""
    return socket.create_server((host, port))


def write_port_file(path: str | os.PathLike, port: int) -> None:
    """The port and a newline, written whole: into a temporary file beside it, then renamed over it, so a
    reader never sees half of it."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(f"{port}\n")
    os.replace(partial, path)


def say_when_started(app: web.Application, listener: socket.socket, port_file: str | os.PathLike | None) -> None:
    """Log the address served, and write the port file, once the app's start-up is done (database open and
    migrated, background tasks running): a parent that saw the file is answered at once."""
    host, port = listener.getsockname()[:2]

    async def started(app: web.Application) -> None:
        log.info("正在监听 http://%s:%d / listening on http://%s:%d", host, port, host, port)
        if port_file is not None:
            write_port_file(port_file, port)
    app.on_startup.append(started)      # after the cleanup contexts, which aiohttp runs as its first on_startup
