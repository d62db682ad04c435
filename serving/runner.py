"""Start the service under uvicorn: one process, or several workers sharing one listening socket.

Why not plain ``uvicorn --workers N``: its supervisor binds ``socket.socket(family)`` (proto 0), and asyncio
only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP, so every response written in two parts
(headers, body) waits out the client's delayed ACK (~40 ms each). Linux copies TCP_NODELAY from a listening
socket to the connections it accepts, so we bind the socket ourselves with the option set (what gunicorn
does too) and hand it to uvicorn's own supervisor."""

from __future__ import annotations

import socket

APP = "salesplan.serving.app:create_app"


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket with TCP_NODELAY (inherited by accepted connections) that child workers inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(host: str, port: int, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until stopped (SIGINT/SIGTERM shut down gracefully)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    # An import string (not an app object) is what lets uvicorn start worker processes.
    config = uvicorn.Config(
        APP, factory=True, host=host, port=port, workers=workers, log_level=log_level, access_log=False
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[listening_socket(host, port)]).run()
