"""One Redis pub/sub subscription per API process, fanned out to its local sockets.

The hub subscribes once to `maily:live:*` (the configured prefix) and hands each message to the sockets of
that workspace that this process holds. Each socket has a bounded queue: when a
socket reads too slowly its queue fills, further messages for it are dropped (and
counted), and past `max_dropped_messages` it is told to close. Memory per socket
is therefore bounded whatever the publishers do."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from maily.config import RealtimeSettings
from maily.kit.logging import get_logger
from maily.realtime.channels import CHANNEL_PREFIX, workspace_of

_log = get_logger("maily.realtime")

LIVE_SOCKETS = Gauge("maily_live_sockets", "Open live WebSockets in this API process.")
LIVE_DROPPED = Counter(
    "maily_live_messages_dropped_total", "Live messages dropped for sockets that read too slowly."
)
_RECONNECT_SECONDS = 1.0


class LiveSocket:
    """The hub's side of one WebSocket: a bounded queue of JSON texts."""

    def __init__(self, workspace_id: uuid.UUID, settings: RealtimeSettings) -> None:
        self.workspace_id = workspace_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.socket_queue_size)
        self.dropped = 0
        self._max_dropped = settings.max_dropped_messages
        # Set once the socket has fallen too far behind: its handler closes it.
        self.too_slow = asyncio.Event()

    def offer(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped += 1
            LIVE_DROPPED.inc()
            if self.dropped >= self._max_dropped:
                self.too_slow.set()


class LiveHub:
    def __init__(
        self, redis: Redis, settings: RealtimeSettings, prefix: str = CHANNEL_PREFIX
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix
        self._sockets: dict[uuid.UUID, set[LiveSocket]] = defaultdict(set)
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Subscribe (once) and wait until Redis has confirmed the subscription, so
        that whatever is published from now on reaches this process."""
        async with self._lock:
            if self._task is None:
                self._task = asyncio.create_task(self._listen(), name="live-hub")
        waiter = asyncio.create_task(self._subscribed.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._task.result()  # the listener died before subscribing: raise why

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError):
                await task
        self._subscribed.clear()

    def register(self, workspace_id: uuid.UUID) -> LiveSocket:
        socket = LiveSocket(workspace_id, self.settings)
        self._sockets[workspace_id].add(socket)
        LIVE_SOCKETS.inc()
        return socket

    def unregister(self, socket: LiveSocket) -> None:
        sockets = self._sockets.get(socket.workspace_id)
        if sockets is not None and socket in sockets:
            sockets.discard(socket)
            LIVE_SOCKETS.dec()
            if not sockets:
                del self._sockets[socket.workspace_id]

    def local_sockets(self, workspace_id: uuid.UUID) -> int:
        return len(self._sockets.get(workspace_id, ()))

    def dispatch(self, channel: str, text: str) -> int:
        """Hand one message to the local sockets of its workspace; returns how many."""
        workspace_id = workspace_of(channel, self.prefix)
        if workspace_id is None:
            return 0
        sockets = self._sockets.get(workspace_id)
        if not sockets:
            return 0
        for socket in list(sockets):
            socket.offer(text)
        return len(sockets)

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(f"{self.prefix}*")
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind in ("psubscribe", b"psubscribe"):
                        self._subscribed.set()
                    elif kind in ("pmessage", b"pmessage"):
                        channel = _text(message["channel"])
                        self.dispatch(channel, _text(message["data"]))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                _log.warning("live subscription lost; resubscribing", error=str(exc))
                await asyncio.sleep(_RECONNECT_SECONDS)  # back off before reconnecting
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
