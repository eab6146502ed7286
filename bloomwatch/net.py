"""Local networking helpers shared by every process BloomWatch starts."""

import socket


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on right now, so parallel servers (tests, CI) never collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_taken(port: int) -> bool:
    """Whether a server could not bind 127.0.0.1:`port` now: something listens there or holds it.

    SO_REUSEADDR as a Java or Python server sets it, so a port left in TIME_WAIT by a closed
    connection counts as free, as it would for that server.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False
