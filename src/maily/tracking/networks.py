"""IP networks as sorted integer ranges: one bisect per lookup, IPv4 and IPv6 (and
IPv4-mapped IPv6 peers) in one list. Shared by the machine rules and the trusted
proxies of the tracking endpoints."""

from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Iterable

__all__ = ["address_number", "in_ranges", "network_ranges"]


def network_ranges(networks: Iterable[str]) -> tuple[list[int], list[int]]:
    # IPv6 addresses are offset past the IPv4 space so one sorted list holds both.
    spans = []
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        offset = 0 if net.version == 4 else 1 << 32
        spans.append((int(net.network_address) + offset, int(net.broadcast_address) + offset))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [s for s, _ in merged], [e for _, e in merged]


def address_number(ip: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except OSError:
        pass
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return int(parsed.ipv4_mapped)
    return int(parsed) + (0 if parsed.version == 4 else 1 << 32)


def in_ranges(starts: list[int], ends: list[int], address: int) -> bool:
    """Whether `address` (an `address_number`) lies in the ranges of `network_ranges`."""
    at = bisect.bisect_right(starts, address) - 1
    return at >= 0 and address <= ends[at]
