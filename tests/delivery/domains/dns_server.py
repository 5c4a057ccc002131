"""A small authoritative DNS server on loopback (UDP and TCP), built on dnspython's
message API, so domain checks run real DNS queries against records a test sets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _quoted(value: str) -> str:
    """A TXT value as zone-file text: 255-octet strings, quotes and backslashes escaped."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class LocalDnsServer:
    """Answers from `records` ({(name, type): [values]}); unknown names get NXDOMAIN.

    `silent` makes it drop every query (a resolver timeout), `drop` the next that
    many (datagrams lost on the way), `servfail` answer
    SERVFAIL, and `udp_limit` truncate UDP answers bigger than that, so the
    resolver must retry over TCP."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.silent = False
        self.drop = 0
        self.servfail = False
        self.udp_limit: int | None = None
        self.queries: list[tuple[str, str, str]] = []  # (name, type, transport)
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def set(self, name: str, rdtype: str, *values: str) -> None:
        self.records[(name.rstrip(".").lower(), rdtype.upper())] = list(values)

    def reset(self) -> None:
        self.records.clear()
        self.queries.clear()
        self.silent = self.servfail = False
        self.drop = 0
        self.udp_limit = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Bind both transports on one port: find a port free for UDP and TCP alike.
        for _ in range(20):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
            except OSError:
                sock.close()
                continue
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=sock)
            self.port = port
            return
        raise RuntimeError("no loopback port free for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype, transport))
        if self.silent:
            return None
        if self.drop > 0:
            self.drop -= 1
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        current = name
        for _ in range(8):  # follow CNAMEs inside this zone, as an authority would
            cname = self.records.get((current, "CNAME"))
            if cname and rdtype != "CNAME":
                response.answer.append(self._rrset(current, "CNAME", cname))
                current = cname[0].rstrip(".").lower()
                continue
            values = self.records.get((current, rdtype))
            if values:
                response.answer.append(self._rrset(current, rdtype, values))
            elif current == name and not self._exists(current):
                response.set_rcode(dns.rcode.NXDOMAIN)
            break
        wire_out = response.to_wire()
        limit = self.udp_limit or (query.payload if query.edns >= 0 else 512)
        if transport == "udp" and len(wire_out) > limit:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            return truncated.to_wire()
        return wire_out

    def _exists(self, name: str) -> bool:
        # A name exists if it holds records or has names below it (RFC 8020).
        return any(n == name or n.endswith("." + name) for n, _ in self.records)

    @staticmethod
    def _rrset(name: str, rdtype: str, values: list[str]) -> dns.rrset.RRset:
        texts = [_quoted(v) for v in values] if rdtype == "TXT" else values
        return dns.rrset.from_text(name + ".", 300, dns.rdataclass.IN, rdtype, *texts)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = self.answer(await reader.readexactly(length), "tcp")
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: LocalDnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)
