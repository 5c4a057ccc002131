"""Machine opens and clicks, recognised at ingest by user agent and network."""

from __future__ import annotations

from pathlib import Path

import pytest

from maily.analytics.stream import EventKind, MachineReason
from maily.tracking.machines import MachineRules

RULES = MachineRules.default()
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
OUTLOOK = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
HOME = "203.0.113.9"

open_, click = EventKind.open, EventKind.click


@pytest.mark.parametrize(
    ("kind", "user_agent", "ip", "reason"),
    [
        # People.
        (open_, SAFARI, HOME, None),
        (click, CHROME, HOME, None),
        (click, CHROME, "2001:db8::1", None),
        # Apple Mail Privacy Protection: bare "Mozilla/5.0", or Apple's network.
        (open_, "Mozilla/5.0", HOME, MachineReason.proxy),
        (open_, SAFARI, "17.58.101.4", MachineReason.proxy),
        (click, CHROME, "17.58.101.4", None),  # MPP fetches images, not links
        # Gmail and Yahoo image proxies.
        (
            open_,
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "66.249.84.10",
            MachineReason.proxy,
        ),
        (open_, CHROME, "66.249.84.10", MachineReason.proxy),
        (
            open_,
            "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
            HOME,
            MachineReason.proxy,
        ),
        # Outlook and Microsoft prefetch.
        (open_, OUTLOOK, HOME, MachineReason.prefetch),
        (click, "Mozilla/5.0 (compatible; BingPreview/1.0b)", HOME, MachineReason.prefetch),
        # Security scanners by user agent and by network.
        (click, "Barracuda Sentinel (EE)", HOME, MachineReason.scanner),
        (click, "Mozilla/5.0 Mimecast URL Protect", HOME, MachineReason.scanner),
        (click, "Proofpoint URL Defense", HOME, MachineReason.scanner),
        (click, "Cisco IronPort WSA", HOME, MachineReason.scanner),
        (click, CHROME, "40.107.22.9", MachineReason.scanner),  # Exchange Online (Safe Links)
        (click, CHROME, "2a01:111:f400:fe1e::1", MachineReason.scanner),
        (click, CHROME, "148.163.150.7", MachineReason.scanner),  # Proofpoint
        (click, CHROME, "205.139.110.61", MachineReason.scanner),  # Mimecast
        (click, CHROME, "::ffff:205.139.110.61", MachineReason.scanner),
        (click, "Symantec MessageLabs link check", HOME, MachineReason.scanner),
        # Automation.
        (click, "Mozilla/5.0 HeadlessChrome/120.0.0.0 Safari/537.36", HOME, MachineReason.bot),
        (click, "curl/8.5.0", HOME, MachineReason.bot),
        (open_, "python-requests/2.32.3", HOME, MachineReason.bot),
        (click, "", HOME, MachineReason.bot),
        (click, CHROME, "not an address", None),
        # Unsubscribes are never judged.
        (EventKind.unsubscribe, "curl/8.5.0", HOME, None),
    ],
)
def test_classification(
    kind: EventKind, user_agent: str, ip: str, reason: MachineReason | None
) -> None:
    assert RULES.classify(kind, user_agent, ip) == reason
    assert RULES.classify(kind, user_agent, ip) == reason  # cached answer agrees


def test_a_rules_file_extends_the_built_in_rules(tmp_path: Path) -> None:
    extra = tmp_path / "rules.toml"
    extra.write_text(
        '[[rule]]\nname = "Our gateway"\nreason = "scanner"\nkinds = ["click"]\n'
        'user_agents = ["AcmeLinkCheck"]\nnetworks = ["198.51.100.0/24"]\n'
    )
    rules = MachineRules.default(extra)
    assert rules.classify(click, "AcmeLinkCheck/2", HOME) == MachineReason.scanner
    assert rules.classify(click, CHROME, "198.51.100.20") == MachineReason.scanner
    assert rules.classify(open_, CHROME, "198.51.100.20") is None
    assert rules.classify(click, "curl/8", HOME) == MachineReason.bot  # built-ins still apply


def test_a_bad_rule_is_refused_with_its_name(tmp_path: Path) -> None:
    extra = tmp_path / "rules.toml"
    extra.write_text('[[rule]]\nname = "Broken"\nreason = "scanner"\nnetworks = ["300.1.2.3/8"]\n')
    with pytest.raises(ValueError, match="Broken"):
        MachineRules.default(extra)
