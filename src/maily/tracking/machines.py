"""Machine opens and clicks at ingest: mail-privacy proxies, prefetchers, security
scanners and bots, recognised by user agent and network (rules in machines.toml).

Timing (a click within seconds of delivery, every link at once) needs the delivery's
send time and is judged by the analytics consumer, not here."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from maily.analytics.stream import EventKind, MachineReason
from maily.tracking.networks import address_number, in_ranges, network_ranges

__all__ = ["MachineRule", "MachineRules", "load_rules"]

_KINDS = {EventKind.open, EventKind.click}
# Distinct user agents and addresses remembered per process before starting over.
_CACHE_LIMIT = 20_000


@dataclass(frozen=True)
class MachineRule:
    name: str
    reason: MachineReason
    kinds: frozenset[EventKind] = frozenset(_KINDS)
    user_agents: tuple[str, ...] = ()  # case-insensitive substrings
    user_agents_exact: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()


def _rule(raw: dict[str, Any]) -> MachineRule:
    try:
        kinds = frozenset(EventKind(k) for k in raw.get("kinds", ("open", "click")))
        if not kinds <= _KINDS:
            raise ValueError("kinds may only be open and click")
        rule = MachineRule(
            name=str(raw["name"]),
            reason=MachineReason(raw["reason"]),
            kinds=kinds,
            user_agents=tuple(str(v) for v in raw.get("user_agents", ())),
            user_agents_exact=tuple(str(v) for v in raw.get("user_agents_exact", ())),
            networks=tuple(str(v) for v in raw.get("networks", ())),
        )
        for network in rule.networks:
            ipaddress.ip_network(network, strict=False)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"machine rule {raw.get('name', raw)!r}: {exc}") from exc
    return rule


def load_rules(extra: Path | None = None) -> list[MachineRule]:
    """The built-in rules, after the rules of `extra` (a TOML file of the same shape)."""
    rules: list[MachineRule] = []
    if extra is not None:
        rules += [_rule(raw) for raw in tomllib.loads(extra.read_text())["rule"]]
    builtin = resources.files("maily.tracking").joinpath("machines.toml").read_text()
    rules += [_rule(raw) for raw in tomllib.loads(builtin)["rule"]]
    return rules


@dataclass
class _Matcher:
    """One (rule, kind) pair compiled: a regex over user agents and sorted ranges."""

    reason: MachineReason
    ua_pattern: re.Pattern[str] | None
    exact: frozenset[str]
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def network_matches(self, address: int) -> bool:
        return in_ranges(self.starts, self.ends, address)


class MachineRules:
    """Classifies a request: `classify(kind, user_agent, ip)` -> a reason or None.

    The first rule (in file order) that matches the user agent or the address wins.
    What the user agent matches and what the address matches are remembered apart:
    user agents repeat across many addresses, so most requests cost two dict lookups."""

    def __init__(self, rules: Sequence[MachineRule]) -> None:
        self.rules = list(rules)
        self._matchers: dict[EventKind, list[_Matcher]] = {kind: [] for kind in _KINDS}
        for rule in self.rules:
            for kind in rule.kinds:
                pattern = (
                    re.compile("|".join(re.escape(v.lower()) for v in rule.user_agents))
                    if rule.user_agents
                    else None
                )
                starts, ends = network_ranges(rule.networks)
                self._matchers[kind].append(
                    _Matcher(rule.reason, pattern, frozenset(rule.user_agents_exact), starts, ends)
                )
        self._by_agent: dict[tuple[EventKind, str], int] = {}
        self._by_address: dict[tuple[EventKind, str], int] = {}

    @classmethod
    def default(cls, extra: Path | None = None) -> MachineRules:
        return cls(load_rules(extra))

    def classify(self, kind: EventKind, user_agent: str, ip: str) -> MachineReason | None:
        matchers = self._matchers.get(kind)
        if not matchers:
            return None
        key = (kind, user_agent)
        by_agent = self._by_agent.get(key)
        if by_agent is None:
            by_agent = self._first_for_agent(matchers, user_agent)
            if len(self._by_agent) >= _CACHE_LIMIT:
                self._by_agent.clear()
            self._by_agent[key] = by_agent
        key = (kind, ip)
        by_address = self._by_address.get(key)
        if by_address is None:
            by_address = self._first_for_address(matchers, ip)
            if len(self._by_address) >= _CACHE_LIMIT:
                self._by_address.clear()
            self._by_address[key] = by_address
        first = min(by_agent, by_address)
        return matchers[first].reason if first < len(matchers) else None

    @staticmethod
    def _first_for_agent(matchers: list[_Matcher], user_agent: str) -> int:
        lowered = user_agent.lower()
        for index, matcher in enumerate(matchers):
            if user_agent in matcher.exact:
                return index
            if matcher.ua_pattern is not None and matcher.ua_pattern.search(lowered):
                return index
        return len(matchers)

    @staticmethod
    def _first_for_address(matchers: list[_Matcher], ip: str) -> int:
        address = address_number(ip)
        if address is not None:
            for index, matcher in enumerate(matchers):
                if matcher.starts and matcher.network_matches(address):
                    return index
        return len(matchers)
