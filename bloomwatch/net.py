"""Local networking helpers shared by every process BloomWatch starts."""

import socket


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on right now, so parallel servers (tests, CI) never collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
