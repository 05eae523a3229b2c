"""Serving a test's ASGI app (FastAPI, Starlette) with uvicorn on 127.0.0.1 and a free port, for as long as a
`with` block lasts: the real framework and server the HTTP target tests talk to."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1 (a test may keep one unused, as a port nobody answers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app, *, start_timeout: float = 20.0) -> Iterator[str]:
    """Run `app` in a thread; yields its base URL; stops it on exit."""
    import uvicorn

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
