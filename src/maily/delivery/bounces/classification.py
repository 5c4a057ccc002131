"""Hard, soft or not a bounce at all: from enhanced status codes (RFC 3463), SMTP reply
codes, the well-known words of big receivers, and the providers' own bounce types.

Rules, in order:
1. A temporary status (4.x.x or a 4xx reply) is soft: the address may work tomorrow.
2. Words that say the address itself is wrong ("user unknown", "no such user",
   Exchange's RecipNotFound, Yahoo's "doesn't have a yahoo.com account") are hard.
3. Words that say the refusal is about the mailbox's state or the message
   (mailbox full, over quota, blocked as spam, rate limits, policy) are soft, even
   under a 5.x.x status: suppressing for those would drop people for our faults.
   A full mailbox is checked before rule 2, as MTAs word it "address rejected".
4. Otherwise the status decides: 5.1.x (bad address), 5.2.1 (mailbox disabled),
   5.4.4 (no route to the domain) are hard; other 5.x.x codes are soft.
5. A 5xx reply code with no enhanced status and no telling words is hard (the
   receiving server said "permanent" and nothing else)."""

from __future__ import annotations

import re

from maily.delivery.bounces.feedback import FeedbackKind

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY = re.compile(r"(?<!\d)([245])\d\d(?![\d.])")

_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|person)"
    r"|user (?:does not|doesn't) exist|(?:address|mailbox|account|recipient) (?:does not|doesn't) exist"
    r"|does not exist|mailbox not found|mailbox unavailable|no mailbox here"
    r"|invalid (?:recipient|mailbox|address)|recipient address rejected: (?:user unknown|undeliverable|access denied)"
    r"|recipient not found|recipnotfound|unrouteable address|unknown local part"
    r"|(?<!sender )address rejected|account (?:has been )?disabled|account is disabled|inactive user"
    r"|doesn't have an? [\w.-]+ account|not our customer|no longer (?:active|valid|in use)"
    r"|bad destination mailbox|mailbox (?:is )?disabled|user not found|addressee unknown",
    re.IGNORECASE,
)
# The mailbox exists but cannot take mail now: these win over the address words, since
# MTAs phrase them as "Recipient address rejected: Mailbox full".
_FULL_WORDS = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the )?(?:storage|quota)"
    r"|insufficient (?:system )?storage|out of storage"
    # ... and so do refusals of our sender address, which say nothing of the recipient.
    r"|sender address rejected|sender domain|bad sender",
    re.IGNORECASE,
)
_SOFT_WORDS = re.compile(
    r"try again later|temporar(?:y|ily)"
    r"|greylist|graylist|rate limit|too many|throttl|spam|blocked|block ?list|black ?list"
    r"|reputation|policy|message (?:too large|size exceeds)|content rejected|dmarc|virus",
    re.IGNORECASE,
)
_HARD_CLASSES = ("5.1.", "5.2.1", "5.4.4")
# 5.1.7 and 5.1.8: the sender's address is bad; not the recipient's fault.
_SENDER_CODES = ("5.1.7", "5.1.8")


def enhanced_status(text: str) -> str | None:
    """The first RFC 3463 status in `text` ('5.1.1'), if any."""
    match = _ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else None


def reply_code(text: str) -> str | None:
    """The first SMTP reply code in `text` ('550'), if any."""
    match = _REPLY.search(text or "")
    return match.group(0) if match else None


def classify(status: str | None, diagnostic: str = "") -> FeedbackKind:
    """Hard or soft for a delivery that failed, from its status and the server's words."""
    code = enhanced_status(status or "") or enhanced_status(diagnostic)
    reply = reply_code(diagnostic) if code is None else None
    if (code and code.startswith("4")) or (reply and reply.startswith("4")):
        return FeedbackKind.soft
    if _FULL_WORDS.search(diagnostic or ""):
        return FeedbackKind.soft
    if _HARD_WORDS.search(diagnostic or ""):
        return FeedbackKind.hard
    if _SOFT_WORDS.search(diagnostic or ""):
        return FeedbackKind.soft
    if code:
        if code in _SENDER_CODES:
            return FeedbackKind.soft
        if code.startswith("5") and any(
            code.startswith(prefix) or code == prefix for prefix in _HARD_CLASSES
        ):
            return FeedbackKind.hard
        if code == "5.0.0" and reply_code(diagnostic or "") in (None, "550", "551", "553"):
            # "5.0.0" says only "permanent"; with nothing softer said, believe it.
            return FeedbackKind.hard
        return FeedbackKind.soft
    if reply and reply.startswith("5"):
        return FeedbackKind.hard
    return FeedbackKind.soft


def status_of(status: str | None, diagnostic: str = "") -> str:
    """The code to record: the enhanced status, else the reply code, else ''."""
    return (
        enhanced_status(status or "")
        or enhanced_status(diagnostic)
        or reply_code(status or "")
        or reply_code(diagnostic)
        or ""
    )


# -- providers' own types -------------------------------------------------------

# Amazon SES: bounceType Permanent | Transient | Undetermined, with a sub-type.
_SES_SOFT_SUBTYPES = frozenset(
    {"MailboxFull", "MessageTooLarge", "ContentRejected", "AttachmentRejected"}
)


def classify_ses(
    bounce_type: str, sub_type: str, status: str | None, diagnostic: str
) -> FeedbackKind:
    if bounce_type == "Permanent":
        return FeedbackKind.soft if sub_type in _SES_SOFT_SUBTYPES else FeedbackKind.hard
    if bounce_type == "Transient":
        return FeedbackKind.soft
    return classify(status, diagnostic)


# Postmark bounce Type names (its API's bounce types).
_POSTMARK: dict[str, FeedbackKind | None] = {
    "HardBounce": FeedbackKind.hard,
    "BadEmailAddress": FeedbackKind.hard,
    "ManuallyDeactivated": FeedbackKind.hard,
    "SoftBounce": FeedbackKind.soft,
    "Transient": FeedbackKind.soft,
    "DnsError": FeedbackKind.soft,
    "Blocked": FeedbackKind.soft,
    "SpamNotification": FeedbackKind.soft,
    "VirusNotification": FeedbackKind.soft,
    "DMARCPolicy": FeedbackKind.soft,
    "SMTPApiError": FeedbackKind.soft,
    "Unknown": None,
    "SpamComplaint": FeedbackKind.complaint,
    # Not failures of delivery at all.
    "AutoResponder": None,
    "AddressChange": None,
    "ChallengeVerification": None,
    "Subscribe": None,
    "Unsubscribe": None,
    "OpenRelayTest": None,
    "InboundError": None,
    "TemplateRenderingFailed": None,
    "Unconfirmed": None,
}


def classify_postmark(bounce_type: str, details: str) -> FeedbackKind | None:
    if bounce_type in _POSTMARK:
        return _POSTMARK[bounce_type]
    return classify(None, details) if details else None


# SendGrid's bounce_classification (newer payloads).
_SENDGRID_CLASSES = {
    "invalid address": FeedbackKind.hard,
    "mailbox unavailable": FeedbackKind.hard,
    "technical": FeedbackKind.soft,
    "content": FeedbackKind.soft,
    "reputation": FeedbackKind.soft,
    "frequency or volume": FeedbackKind.soft,
}


def classify_sendgrid(
    bounce_type: str, classification: str, status: str | None, reason: str
) -> FeedbackKind:
    if bounce_type == "blocked":
        return FeedbackKind.soft
    known = _SENDGRID_CLASSES.get(classification.strip().lower())
    if known is not None:
        return known
    return classify(status, reason)
