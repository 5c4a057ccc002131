"""The file of a multipart/form-data upload as a stream of chunks, straight off the wire.

Starlette's form parser spools every file to a temporary file before the endpoint
runs; an import file goes to object storage as it arrives instead, so its size limit
holds while it is read and a rejected upload leaves nothing on the API's disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from maily.kit.errors import BadRequest, MailyError

__all__ = ["FilePart", "MalformedUpload", "UnsupportedMediaType", "file_part"]


class MalformedUpload(BadRequest):
    code = "malformed_upload"


class UnsupportedMediaType(MailyError):
    status_code = 415
    code = "unsupported_media_type"


@dataclass
class FilePart:
    filename: str | None
    chunks: AsyncIterator[bytes]


class _Collector:
    """Parser callbacks: keep the data of the first part named `field`, skip the rest."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.state = "searching"  # searching | reading | done
        self.filename: str | None = None
        self.pending: list[bytes] = []
        self._in_field = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def on_part_begin(self) -> None:
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._in_field = self.state == "searching" and name == self.field
        if self._in_field:
            self.state = "reading"
            raw = options.get(b"filename")
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field:
            self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        if self._in_field:
            self._in_field = False
            self.state = "done"


async def file_part(request: Request, field: str = "file") -> FilePart:
    """Read the request up to the start of the `field` part; its data then streams
    from `FilePart.chunks` as the request body arrives."""
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise UnsupportedMediaType(
            f"send the file as multipart/form-data, in a part named {field!r}"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise MalformedUpload("the multipart/form-data content type has no boundary")
    collector = _Collector(field)
    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": collector.on_part_begin,
                "on_header_field": collector.on_header_field,
                "on_header_value": collector.on_header_value,
                "on_header_end": collector.on_header_end,
                "on_headers_finished": collector.on_headers_finished,
                "on_part_data": collector.on_part_data,
                "on_part_end": collector.on_part_end,
            },
        )
    except (FormParserError, ValueError) as exc:
        raise MalformedUpload(f"the multipart body cannot be read: {exc}") from exc
    body = request.stream().__aiter__()

    async def feed() -> bool:
        """Give the parser the next piece of the body; False at its end."""
        try:
            chunk = await anext(body)
        except StopAsyncIteration:
            return False
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise MalformedUpload(f"the multipart body cannot be read: {exc}") from exc
        return True

    while collector.state == "searching":
        if not await feed():
            raise MalformedUpload(f"the upload has no part named {field!r}")

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            if collector.pending:
                data = b"".join(collector.pending)
                collector.pending.clear()
                yield data
            if collector.state == "done":
                return
            if not await feed():
                raise MalformedUpload("the upload ended before its file did")

    return FilePart(collector.filename, chunks())
