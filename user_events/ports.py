"""Loopback TCP ports: a free one to listen on, and whether something listens on one."""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


class NoFreePort(RuntimeError):
    pass


def free_port(exclude: set[int] = frozenset()) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        # keep clear of ports that a +10000 gRPC offset or another kept port could collide with
        if port not in exclude and port < 55000:
            return port
    raise NoFreePort("could not find a free loopback port")


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False
