"""The tests' free ports lie below the kernel's ephemeral range, where no outgoing connection can take them between
the choice and a slow server's bind (tests/support/testsupport.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from testsupport import _ephemeral_low, free_port, free_port_pair


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    low = _ephemeral_low()
    for _ in range(20):
        port = free_port()
        assert 10_000 <= port < low
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    pair = free_port_pair()
    assert pair + 1 < low


def test_the_range_is_read_from_the_kernel_or_defaults(tmp_path: Path) -> None:
    ranged = tmp_path / "range"
    ranged.write_text("40000\t60999\n")
    assert _ephemeral_low(str(ranged)) == 40000
    assert _ephemeral_low(str(tmp_path / "missing")) == 32768
