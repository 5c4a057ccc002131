"""Raw MIME for outgoing mail, assembled from precomputed header pieces.

`email.message.EmailMessage` + `as_bytes()` manages ~600 messages a second; a send
pipeline needs thousands. A campaign's messages differ only in a few headers and
the bodies, so `MessageBuilder` encodes what they share once and each message is a
join of byte strings: bodies in 7bit, base64 or quoted-printable (binascii), CRLF line
endings, no line over 998 octets, RFC 2047 words for non-ASCII text, the
List-Unsubscribe pair of RFC 8058, a VERP envelope sender and a DKIM signature that
covers all of it."""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from maily.delivery.dkim import DkimSigner, canonical_header
from maily.delivery.transports.base import OutgoingMessage
from maily.delivery.verp import Verp

__all__ = [
    "MessageBuilder",
    "MessageError",
    "build_message",
    "encode_address",
    "encode_text",
    "outgoing_message",
]

ONE_CLICK = "List-Unsubscribe=One-Click"
MAX_LINE = 998
# Encoded words are at most 75 characters (RFC 2047 §2): "=?utf-8?b?" + base64 of
# 42 bytes (56 characters) + "?=" is 68, which leaves room for "Subject: ".
_WORD_BYTES = 42
_FOLD_AT = 76
_MAX_NAME = 200
_B64_LINE = 76

# C0 controls and DEL: in a header they are an injection (CR, LF) or a rendering
# trick; text with them is cleaned before it is encoded.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_TOKEN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


class MessageError(ValueError):
    """The message cannot be built as asked (a malformed address, no body at all)."""


def _clean(text: str) -> str:
    return _CONTROLS.sub(" ", text) if not text.isprintable() else text


def _encoded_words(text: str) -> list[str]:
    raw = text.encode("utf-8")
    words = []
    start = 0
    while start < len(raw):
        end = min(start + _WORD_BYTES, len(raw))
        # Never split a UTF-8 sequence: back off continuation bytes (10xxxxxx).
        while end < len(raw) and raw[end] & 0xC0 == 0x80:
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(raw[start:end]).decode("ascii") + "?=")
        start = end
    return words


def _fold(words: Sequence[str], first: int) -> str:
    """Join words with spaces, folding (CRLF before the space) where a line would pass
    column 76; `first` is what the first line already holds (`Subject: `). Unfolding
    gives back the words joined by single spaces, so ASCII text keeps every space."""
    lines: list[str] = []
    line = words[0] if words else ""
    width = first + len(line)
    for word in words[1:]:
        if line.strip() and width + 1 + len(word) > _FOLD_AT:
            lines.append(line)
            line, width = " " + word, 1 + len(word)
        else:
            line += " " + word
            width += 1 + len(word)
    lines.append(line)
    return "\r\n".join(lines)


def encode_text(text: str, name: str = "Subject") -> str:
    """Unstructured header text (a subject) ready to write after `Name: `: ASCII as it
    is, folded when long; anything else (or ASCII that looks like an encoded word) as
    RFC 2047 words in UTF-8. Control characters (a CR/LF injection) become spaces."""
    text = _clean(text)
    first = len(name) + 2
    if text.isascii() and "=?" not in text:
        if first + len(text) <= _FOLD_AT:
            return text
        words = text.split(" ")
        if max(map(len, words)) <= _FOLD_AT:
            return _fold(words, first)
    return _fold(_encoded_words(text), first)


def _phrase(name: str) -> str:
    """A display name as an RFC 5322 phrase (at most 200 characters of it)."""
    name = " ".join(_clean(name).split())[:_MAX_NAME]
    if not name:
        return ""
    if not name.isascii() or "=?" in name:
        return _fold(_encoded_words(name), len("Reply-To: "))
    if _ATOMS.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _address(address: str) -> str:
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local) or local.startswith(".") or ".." in local:
        raise MessageError(f"not a mail address Maily can send to: {address[:100]!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise MessageError(f"not a mail domain: {domain[:100]!r}") from exc
    if not _DOMAIN.fullmatch(domain):
        raise MessageError(f"not a mail domain: {domain[:100]!r}")
    return f"{local}@{domain.lower()}"


def encode_address(address: str, name: str | None = None) -> str:
    """`Name <local@domain>` (or the bare address) as it goes in From, To, Reply-To."""
    return _mailbox(_address(address), name)


def _mailbox(address: str, name: str | None) -> str:
    phrase = _phrase(name) if name else ""
    return f"{phrase} <{address}>" if phrase else address


def _display(address: str, name: str | None) -> str:
    """The same address for APIs that take text, not MIME: names stay readable
    (Unicode, not encoded words), quoted when they hold specials like a comma."""
    name = " ".join(_clean(name or "").split())[:_MAX_NAME]
    if not name:
        return address
    if not _SPECIALS.search(name):
        return f"{name} <{address}>"
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{address}>'


def _has_long_line(raw: bytes) -> bool:
    """Whether a line (between LFs) is longer than 998 octets. Steps from line start
    to line start a window at a time: the last LF within the next 999 octets (a C
    search) starts the next window; none there, and the line is too long."""
    end = len(raw)
    start = 0
    while end - start > MAX_LINE:
        newline = raw.rfind(b"\n", start, start + MAX_LINE + 1)
        if newline < 0:
            return True
        start = newline + 1
    return False


def _base64_lines(raw: bytes) -> bytes:
    encoded = binascii.b2a_base64(raw, newline=False)
    return b"\n".join(encoded[i : i + _B64_LINE] for i in range(0, len(encoded), _B64_LINE))


def _part(content: str, subtype: bytes) -> tuple[bytes, bytes]:
    """(part headers, encoded body) for one text part, CRLF line endings.

    ASCII with short lines goes as it is (7bit). Anything else is base64, which
    binascii does in microseconds, where its quoted-printable encoder takes ~15 ns
    a byte; spam filters frown on base64 only around text that is plain ASCII
    (SpamAssassin's MIME_BASE64_TEXT), so ASCII with an over-long line (minified
    HTML) goes quoted-printable instead."""
    raw = content.encode("utf-8")
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not raw.isascii():
        # Text is encoded in its canonical form, CRLF line ends (RFC 2046 §4.1.1).
        encoding, body = b"base64", _base64_lines(raw.replace(b"\n", b"\r\n"))
    elif b"\x00" in raw or _has_long_line(raw):
        encoding, body = b"quoted-printable", binascii.b2a_qp(raw, istext=True)
    else:
        encoding, body = b"7bit", raw
    headers = (
        b"Content-Type: text/" + subtype + b"; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: " + encoding + b"\r\n"
    )
    return headers, body.replace(b"\n", b"\r\n")


class _Clock:
    """The Date header, formatted once per second instead of once per message."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._value, self._second = format_datetime(moment).encode("ascii"), second
        return self._value


def _header(value: str) -> bytes:
    return b" " + value.encode("ascii")


_MIME_VERSION = (b"MIME-Version", b" 1.0")
_MIME_VERSION_CANONICAL = canonical_header(*_MIME_VERSION)
_ONE_CLICK = (b"List-Unsubscribe-Post", b" " + ONE_CLICK.encode("ascii"))
_ONE_CLICK_CANONICAL = canonical_header(*_ONE_CLICK)


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every message of one builder has, encoded (and canonicalised for the
    DKIM signature) once."""

    before_to: tuple[tuple[bytes, bytes], ...]
    before_to_canonical: tuple[bytes, ...]
    after_unsubscribe: tuple[tuple[bytes, bytes], ...]
    after_unsubscribe_canonical: tuple[bytes, ...]
    listed_after: tuple[tuple[str, str], ...]
    tags: dict[str, str]
    from_display: str


class MessageBuilder:
    """Builds the messages of one campaign (or one kind of mail) for one sender.

    Construct it once with what the messages share; `build()` then makes each
    recipient's message. The unsubscribe URL template has one `{token}`; the
    mailto alternative goes to `unsubscribe+<token>@<return-path domain>`, where
    `maily inbound` reads it."""

    def __init__(
        self,
        *,
        from_email: str,
        from_name: str | None = None,
        reply_to: str | None = None,
        sending_domain: str,
        return_path_domain: str,
        workspace_id: uuid.UUID,
        verp: Verp,
        signer: DkimSigner | None = None,
        campaign_id: uuid.UUID | None = None,
        list_id: str | None = None,
        list_name: str | None = None,
        unsubscribe_url: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.sending_domain = sending_domain.lower()
        self.return_path_domain = return_path_domain.lower()
        self.workspace_id = workspace_id
        self.campaign_id = campaign_id
        self.verp = verp
        self.signer = signer
        self._from_email = _address(from_email)
        self._from_name = from_name
        self._from = encode_address(from_email, from_name)
        self._reply_to = encode_address(reply_to) if reply_to else None
        if unsubscribe_url is not None and (
            unsubscribe_url.count("{token}") != 1 or re.search(r"[\s<>]", unsubscribe_url)
        ):
            raise MessageError("the unsubscribe URL must be a URL with one {token} in it")
        self._unsubscribe_url = unsubscribe_url
        self._clock = _Clock()
        self._list_id = None
        if list_id is not None:
            label = f"{list_id}.{self.sending_domain}"
            if not _DOMAIN.fullmatch(label):
                raise MessageError(f"a List-Id label must be dot-atom text: {list_id!r}")
            phrase = _phrase(list_name or "")
            self._list_id = f"{phrase} <{label}>" if phrase else f"<{label}>"
        self._feedback_id = (
            f"{campaign_id}:{workspace_id}:maily" if campaign_id is not None else None
        )
        extra = []
        for name, value in extra_headers:
            if not re.fullmatch(r"[!-9;-~]+", name) or not value.isascii():
                raise MessageError(f"extra header {name!r} is not a plain ASCII header")
            extra.append((name, _clean(value)))
        before_to = [(b"From", _header(self._from))]
        if self._reply_to:
            before_to.append((b"Reply-To", _header(self._reply_to)))
        after = []
        if self._list_id:
            after.append((b"List-Id", _header(self._list_id)))
        if self._feedback_id:
            after.append((b"Feedback-ID", _header(self._feedback_id)))
        after += [(name.encode("ascii"), _header(value)) for name, value in extra]
        listed_after = []
        if self._list_id:
            listed_after.append(("List-Id", self._list_id))
        if self._feedback_id:
            listed_after.append(("Feedback-ID", self._feedback_id))
        tags = {"workspace_id": str(workspace_id)}
        if campaign_id is not None:
            tags["campaign_id"] = str(campaign_id)
        self._shared = _Shared(
            before_to=tuple(before_to),
            before_to_canonical=tuple(canonical_header(*field) for field in before_to),
            after_unsubscribe=tuple(after),
            after_unsubscribe_canonical=tuple(canonical_header(*field) for field in after),
            listed_after=(*listed_after, *extra),
            tags=tags,
            from_display=_display(self._from_email, self._from_name),
        )
        self._boundary_prefix = b"=_mly_" + secrets.token_hex(8).encode("ascii")
        self._boundaries = itertools.count()

    def build(
        self,
        *,
        recipient: str,
        subject: str,
        html: str | None,
        text: str | None,
        delivery_id: uuid.UUID | None = None,
        recipient_name: str | None = None,
        unsubscribe_token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> OutgoingMessage:
        """One recipient's finished message: raw bytes (signed when the builder has a
        signer) and the same message in parts, for transports that want those."""
        if not html and not text:
            raise MessageError("a message needs a text part, an HTML part or both")
        recipient = _address(recipient)
        to = _mailbox(recipient, recipient_name)
        clean_subject = _clean(subject)
        message_id = f"<{delivery_id or uuid.uuid4()}@{self.sending_domain}>"
        shared = self._shared
        # The fields in order, and by position the relaxed form of those every message
        # shares (worked out once, in __init__), for the signer.
        headers: list[tuple[bytes, bytes]] = [
            *shared.before_to,
            (b"To", _header(to)),
            (b"Subject", b" " + encode_text(clean_subject).encode("ascii")),
            (b"Date", b" " + self._clock.now()),
            (b"Message-ID", _header(message_id)),
            _MIME_VERSION,
        ]
        canonical: list[bytes | None] = [*shared.before_to_canonical, None, None, None, None]
        canonical.append(_MIME_VERSION_CANONICAL)
        listed: list[tuple[str, str]] = [("Message-ID", message_id)]
        if self._reply_to:
            listed.append(("Reply-To", self._reply_to))
        if unsubscribe_token is not None:
            if not _TOKEN.fullmatch(unsubscribe_token):
                raise MessageError("an unsubscribe token must be URL-safe text")
            if self._unsubscribe_url is None:
                raise MessageError("this builder has no unsubscribe URL for the token")
            url = self._unsubscribe_url.replace("{token}", unsubscribe_token)
            value = f"<{url}>"
            mailbox = f"unsubscribe+{unsubscribe_token}"
            written = value
            if len(mailbox) <= 64:  # the longest local part RFC 5321 promises to carry
                mailto = f"<mailto:{mailbox}@{self.return_path_domain}>"
                value += ", " + mailto
                # Folded after the comma when one line would pass 78 columns.
                written = value if len(value) <= 60 else f"{written},\r\n {mailto}"
            headers.append((b"List-Unsubscribe", _header(written)))
            headers.append(_ONE_CLICK)
            canonical += (None, _ONE_CLICK_CANONICAL)
            listed += [("List-Unsubscribe", value), ("List-Unsubscribe-Post", ONE_CLICK)]
        headers += shared.after_unsubscribe
        canonical += shared.after_unsubscribe_canonical
        listed += shared.listed_after

        if html and text:
            boundary = self._boundary()
            text_headers, text_body = _part(text, b"plain")
            html_headers, html_body = _part(html, b"html")
            body = b"".join(
                (
                    b"--",
                    boundary,
                    b"\r\n",
                    text_headers,
                    b"\r\n",
                    text_body,
                    b"\r\n--",
                    boundary,
                    b"\r\n",
                    html_headers,
                    b"\r\n",
                    html_body,
                    b"\r\n--",
                    boundary,
                    b"--\r\n",
                )
            )
            headers.append(
                (b"Content-Type", b' multipart/alternative; boundary="' + boundary + b'"')
            )
        else:
            part_headers, part_body = _part(html or text or "", b"html" if html else b"plain")
            for line in part_headers.split(b"\r\n")[:-1]:
                field, _, field_value = line.partition(b":")
                headers.append((field, field_value))
            body = part_body if part_body.endswith(b"\r\n") else part_body + b"\r\n"

        head = b"".join([name + b":" + value + b"\r\n" for name, value in headers])
        signature = self.signer.sign_parts(headers, body, canonical) if self.signer else b""
        data = b"".join((signature, head, b"\r\n", body))
        if delivery_id is not None:
            tags = {**shared.tags, "delivery_id": str(delivery_id)}
        else:
            tags = dict(shared.tags)
        if metadata:
            tags.update(metadata)
        return OutgoingMessage(
            delivery_id=delivery_id,
            workspace_id=self.workspace_id,
            envelope_from=self.verp.address(delivery_id, self.return_path_domain),
            recipient=recipient,
            data=data,
            from_header=shared.from_display,
            to_header=_display(recipient, recipient_name),
            subject=clean_subject,
            html=html,
            text=text,
            headers=tuple(listed),
            metadata=tags,
        )

    def _boundary(self) -> bytes:
        """A multipart boundary no part can hold: a random prefix drawn once per
        builder (unknown to whoever writes a template or contact data) and a counter,
        instead of a read of the system's random source per message."""
        return self._boundary_prefix + b"%012x" % next(self._boundaries)


def outgoing_message(
    *,
    from_email: str,
    sending_domain: str,
    return_path_domain: str,
    workspace_id: uuid.UUID,
    verp: Verp,
    recipient: str,
    subject: str,
    html: str | None,
    text: str | None,
    from_name: str | None = None,
    reply_to: str | None = None,
    signer: DkimSigner | None = None,
    campaign_id: uuid.UUID | None = None,
    list_id: str | None = None,
    list_name: str | None = None,
    unsubscribe_url: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    delivery_id: uuid.UUID | None = None,
    recipient_name: str | None = None,
    unsubscribe_token: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> OutgoingMessage:
    """One message without keeping a builder (a test send, a confirmation). A send
    loop keeps one `MessageBuilder` per campaign instead."""
    builder = MessageBuilder(
        from_email=from_email,
        from_name=from_name,
        reply_to=reply_to,
        sending_domain=sending_domain,
        return_path_domain=return_path_domain,
        workspace_id=workspace_id,
        verp=verp,
        signer=signer,
        campaign_id=campaign_id,
        list_id=list_id,
        list_name=list_name,
        unsubscribe_url=unsubscribe_url,
        extra_headers=extra_headers,
    )
    return builder.build(
        recipient=recipient,
        subject=subject,
        html=html,
        text=text,
        delivery_id=delivery_id,
        recipient_name=recipient_name,
        unsubscribe_token=unsubscribe_token,
        metadata=metadata,
    )


def build_message(**options: object) -> bytes:
    """The raw bytes of `outgoing_message(**options)`."""
    return outgoing_message(**options).data  # type: ignore[arg-type]
