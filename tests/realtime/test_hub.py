"""The hub's fan-out and backpressure, without a network: a slow socket loses
messages (counted) and is told to close; memory per socket stays bounded."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from maily.config import RealtimeSettings
from maily.realtime.channels import live_channel
from maily.realtime.hub import LiveHub


def test_messages_go_only_to_sockets_of_their_workspace() -> None:
    hub = LiveHub(Redis(), RealtimeSettings())
    a, b = uuid.uuid4(), uuid.uuid4()
    first, second, other = hub.register(a), hub.register(a), hub.register(b)

    assert hub.dispatch(live_channel(a), '{"n": 1}') == 2
    assert hub.dispatch("maily:live:not-a-uuid", "{}") == 0
    assert hub.dispatch("some:other:channel", "{}") == 0

    assert first.queue.get_nowait() == second.queue.get_nowait() == '{"n": 1}'
    assert other.queue.empty()
    hub.unregister(first)
    hub.unregister(first)  # twice is harmless
    assert hub.local_sockets(a) == 1


def test_a_slow_socket_drops_messages_then_is_told_to_close() -> None:
    hub = LiveHub(Redis(), RealtimeSettings(socket_queue_size=3, max_dropped_messages=5))
    workspace = uuid.uuid4()
    slow, fast = hub.register(workspace), hub.register(workspace)
    for n in range(3 + 4):
        hub.dispatch(live_channel(workspace), f'{{"n": {n}}}')
        while not fast.queue.empty():
            fast.queue.get_nowait()  # a socket that keeps up loses nothing

    assert slow.queue.qsize() == 3
    assert slow.dropped == 4
    assert not slow.too_slow.is_set()
    hub.dispatch(live_channel(workspace), '{"n": 7}')
    assert slow.too_slow.is_set()
    assert slow.queue.qsize() == 3
    assert fast.dropped == 0
