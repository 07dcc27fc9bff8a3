"""Fixtures shared by the probe observer tests (overlay.probe and mtu.path)."""
import signal
import socket

import pytest


@pytest.fixture
def sigterm():
    """observe() installs its own SIGTERM handler: put pytest's back afterwards."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


@pytest.fixture
def raw_socket():
    """A datagram socketpair standing in for a raw socket: (the observer's end, the wire)."""
    ends = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield ends
    for end in ends:
        end.close()
