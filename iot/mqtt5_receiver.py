"""The MQTT 5 receive loop: an asyncio connection of our own over the `mqtt5` packet codec.

The codec encodes and decodes every packet; this module only moves bytes. It reads what the
socket holds (up to asyncio's 256 KiB a read) and takes every packet in it, decoding each
message on arrival into the bounded queue the batch writer empties; the PUBACKs of a committed
batch leave in one write. With several thousand messages a read this drains a persistent
session faster than the broker's own C client (BENCHMARKS.md), where paho spends ~40 us a message.

It keeps `MqttReceiver`'s contract: a persistent session (clean_start off, session expiry),
Receive Maximum = `iot.queue` for back-pressure, shared subscriptions, no replay of retained
messages on a resumed session, TLS as `BrokerAddress.tls_context` says, keep-alive pings,
reconnection with jittered back-off, a DISCONNECT on `stop()`, and session generations: an
acknowledgement for a message of an earlier connection is never sent on a later one.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future as ThreadFuture
from datetime import datetime
from typing import Any, TypeVar

import mqtt5

from hub.backoff import jittered_delay
from hub.config import Deployment
from iot.payloads import Decoder
from iot.receiver import SESSION_EXPIRY, BrokerAddress, Message, decode_message, topic_filters
from iot.stats import IngestStats

log = logging.getLogger(__name__)

KEEP_ALIVE = 30  # seconds; a ping goes out after half of it without traffic
ANSWER_WITHIN = 10.0  # seconds for the broker to accept the connection and answer CONNECT
FIRST_RETRY, LAST_RETRY = 0.5, 10.0  # reconnection back-off bounds, seconds
GRANTED = (
    mqtt5.SubAckReasonCode.GRANTED_QOS_AT_MOST_ONCE,
    mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE,
)  # unhashable
T = TypeVar("T")


class _Closing(Exception):
    """`stop()` was called while waiting for the broker."""


class Mqtt5Receiver:
    """A persistent MQTT 5 session (shared subscriptions when `iot.share_group` is set) feeding
    `queue`; acknowledgement is manual, by `ack()`, and batched into one write per wake-up."""

    def __init__(
        self,
        deployment: Deployment,
        broker: BrokerAddress,
        client_id: str,
        decoder: Decoder,
        clock: Callable[[], datetime],
        stats: IngestStats,
        stop: threading.Event,
        *,
        keep_alive: int = KEEP_ALIVE,
    ) -> None:
        self.deployment = deployment
        self.broker = broker
        self.client_id = client_id
        self.decoder = decoder
        self.clock = clock
        self.stats = stats
        self.keep_alive = keep_alive
        self.queue = Inbox(maxsize=deployment.iot.queue)
        self._stop = stop
        self._session = 0
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._main, name="iot-mqtt5", daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Future[None] | None = None
        self._link: _Link | None = None
        self._acks: collections.deque[tuple[int, int]] = collections.deque()  # (session, packet id)
        self._flush_scheduled = False
        self._overflow: collections.deque[Message] = collections.deque()  # the queue was full
        self._rng = random.Random()

    # --- the caller's side ------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and keep reconnecting until `stop()`."""
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self) -> None:
        """Send the acknowledgements in hand and DISCONNECT; unacknowledged messages stay with the
        broker for the persistent session."""
        if self._loop is not None and self._closing is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(_settle, self._closing, None)
        if self._thread.ident is None:
            return  # never started
        self._thread.join(timeout=15)
        if self._thread.is_alive():
            log.error("the MQTT receive loop did not stop within 15 s")

    def wait_connected(self, timeout: float) -> bool:
        """True once the broker has granted the subscriptions: from then on nothing published to
        them is missed (a CONNACK alone leaves a window where a message finds no subscriber)."""
        return self._connected.wait(timeout)

    def ack(self, message: Message) -> bool:
        """Acknowledge a message whose readings are committed; False when its session is gone (the
        broker redelivers it, and the store keeps it once). The acknowledgements given before the
        receive loop next wakes leave in one write."""
        return self.ack_all([message]) == 1

    def ack_all(self, messages: list[Message]) -> int:
        """`ack` for each of a committed batch's messages, with one wake-up of the receive loop;
        how many are acknowledged (those of an earlier session are not)."""
        session = self._session
        mine = [m.mid for m in messages if m.session == session]
        self._acks.extend((session, mid) for mid in mine if mid)  # mid 0: QoS 0, nothing to send
        if mine and not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            try:
                self._loop.call_soon_threadsafe(self._flush_acks)
            except RuntimeError:  # the loop has ended (stopped): the broker redelivers them
                return 0
        return len(mine)

    def round_trip(self, timeout: float) -> bool:
        """Ping the broker and wait for its answer: True once everything it sent before is in
        `queue` (False while some of it waits for room there)."""
        if self._loop is None:
            return False
        done: ThreadFuture[bool] = asyncio.run_coroutine_threadsafe(self._ping(timeout), self._loop)
        try:
            return done.result(timeout + 1)
        except Exception:
            return False

    @property
    def pongs(self) -> int:
        """The broker's answers to our pings on the current connection."""
        link = self._link
        return link.pongs if link is not None else 0

    # --- the receive loop's thread ------------------------------------------------------------
    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = self._loop.create_future()
        self._ready.set()
        attempt = 0
        while not self._closing.done():
            began = time.monotonic()
            try:
                await self._connection()
            except _Closing:
                break
            except Exception as exc:  # any failure of one connection: say why and reconnect
                reason = self.broker.explain(exc)
                self.stats.last_error = f"MQTT: {reason}"
                if not self._stop.is_set():
                    where = f"{self.broker.host}:{self.broker.port}"
                    log.warning("MQTT broker at %s: %s; reconnecting", where, reason)
            finally:
                # A session that worked for a while backs off from the start again; a broker that
                # drops us as soon as we are in is not hammered.
                worked = self._connected.is_set() and time.monotonic() - began > LAST_RETRY
                self._connected.clear()
                self._link = None
            attempt = 0 if worked else attempt + 1
            delay = jittered_delay(FIRST_RETRY, LAST_RETRY, max(attempt - 1, 0), self._rng)
            await asyncio.wait({self._closing}, timeout=delay)

    async def _connection(self) -> None:
        """One connection from CONNECT to its end, which is always an exception."""
        assert self._loop is not None
        host, port = self.broker.host, self.broker.port
        context = self.broker.tls_context()
        opening = self._loop.create_connection(
            lambda: _Link(self), host, port, ssl=context, server_hostname=host if context else None
        )
        _, link = await self._until(opening, ANSWER_WITHIN, "TCP connection", None)
        try:
            await self._converse(link)
        finally:
            link.close()

    async def _converse(self, link: _Link) -> None:
        iot = self.deployment.iot
        link.send(
            mqtt5.ConnectPacket(
                self.client_id,
                username=self.broker.username,
                password=self.broker.password.encode() if self.broker.password is not None else None,
                clean_start=False,
                keep_alive=self.keep_alive,
                session_expiry_interval=SESSION_EXPIRY,
                receive_max=iot.queue,
            ).write()
        )
        connack = await self._until(link.connack, ANSWER_WITHIN, "CONNACK", link)
        if connack.reason_code != mqtt5.ConnAckReasonCode.SUCCESS:
            why = f": {connack.reason_str}" if connack.reason_str else ""
            raise ConnectionRefusedError(
                f"the broker refused the connection ({connack.reason_code.name}{why})"
            )
        keep_alive = connack.server_keep_alive if connack.server_keep_alive is not None else self.keep_alive
        # A resumed session's subscriptions exist: no replay of retained messages.
        resumed = mqtt5.RetainHandling.SEND_IF_SUBSCRIPTION_NOT_EXISTS
        filters = [
            mqtt5.TopicFilter(
                f, max_qos=mqtt5.QoS.AT_LEAST_ONCE, retain_as_published=False, retain_handling=resumed
            )
            for f in topic_filters(self.deployment)
        ]
        link.send(mqtt5.SubscribePacket(1, filters).write())
        suback = await self._until(link.suback, ANSWER_WITHIN, "SUBACK", link)
        refused = [code.name for code in suback.reason_codes if code not in GRANTED]
        if refused:  # an ACL that denies the topics: say so, the session takes nothing
            log.error("the broker refused the subscriptions: %s", ", ".join(refused))
        else:
            self._connected.set()
        await self._keep(link, keep_alive)

    async def _keep(self, link: _Link, keep_alive: int) -> None:
        """Ping when quiet, until the connection ends or `stop()` ends it with a DISCONNECT."""
        assert self._closing is not None
        tick = min(1.0, keep_alive / 4) if keep_alive else 1.0
        while True:
            ends: set[asyncio.Future[Any]] = {link.lost, self._closing}
            await asyncio.wait(ends, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
            if self._closing.done():
                self._flush_acks()
                link.send(mqtt5.DisconnectPacket().write())
                link.close()
                await asyncio.wait({link.lost}, timeout=5)
                raise _Closing
            if link.lost.done():
                raise ConnectionError(link.lost.result())
            if not keep_alive:
                continue
            now = time.monotonic()
            if link.paused:  # our own back-pressure: the broker's answers wait unread
                link.last_received = now
            elif now - link.last_received > 1.5 * keep_alive:
                raise TimeoutError(f"no answer from the broker within {1.5 * keep_alive:g} s of keep-alive")
            if min(now - link.last_sent, now - link.last_received) >= keep_alive / 2:
                link.ping()

    async def _until(self, step: Awaitable[T], timeout: float, what: str, link: _Link | None) -> T:
        """`step`'s result, unless the connection ends, `stop()` is called or `timeout` passes."""
        assert self._closing is not None
        future = asyncio.ensure_future(step)
        waits: set[asyncio.Future[Any]] = {future, self._closing}
        if link is not None:
            waits.add(link.lost)
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if future.done():
            return future.result()
        future.cancel()
        if self._closing.done():
            raise _Closing
        if link is not None and link.lost.done():
            raise ConnectionError(f"{link.lost.result()} (waiting for {what})")
        raise TimeoutError(f"no {what} from the broker within {timeout:g} s")

    async def _ping(self, timeout: float) -> bool:
        link = self._link
        if link is None:
            return False
        done, _ = await asyncio.wait({link.ping()}, timeout=timeout)
        return bool(done) and not self._overflow

    def _begin_session(self, link: _Link, resumed: bool) -> int:
        """A CONNACK accepted `link`: its session generation.

        A resumed session brings every unacknowledged message again (MQTT 5, 4.4), so those of the
        lost connection still queued are dropped: written twice they would cost a merge, and left
        in the queue they would fill it while the broker resends them ahead of our SUBACK.
        """
        self._session += 1
        self._link = link
        self.stats.connections += 1
        if resumed:
            stale = self.queue.drop_all() + len(self._overflow)
            self._overflow.clear()
            if stale:
                log.info("session resumed: %d messages of the lost connection come again", stale)
        return self._session

    def _flush_acks(self) -> None:
        """Write the acknowledgements given since the last flush, those of this session only."""
        self._flush_scheduled = False
        link, acks = self._link, self._acks
        if not acks:
            return
        packets = []
        while acks:
            session, mid = acks.popleft()
            if link is not None and session == link.session:
                packets.append(mqtt5.PubAckPacket(mid).write())
        if link is not None and packets:
            link.send(b"".join(packets))

    def _message(self, link: _Link, publish: mqtt5.PublishPacket, received: datetime) -> Message:
        """A PUBLISH from the broker, decoded."""
        topic, payload = publish.topic, publish.payload
        decoded = decode_message(self.decoder, self.stats, topic, payload, received, publish.retain)
        return Message(topic, payload, publish.packet_id or 0, received, link.session, decoded)

    def _deliver(self, link: _Link, messages: list[Message]) -> None:
        """The messages of one read into the queue, under one lock; what finds no room (messages of
        an earlier connection still wait there, or the broker sent more than Receive Maximum) is
        held here, and reading stops until there is room."""
        self.stats.received += len(messages)
        if self._overflow:
            self._overflow.extend(messages)
            return
        taken = self.queue.put_many(messages)
        if taken < len(messages):
            self._overflow.extend(messages[taken:])
            link.pause()
            asyncio.get_running_loop().call_later(0.01, self._drain_overflow)

    def _drain_overflow(self) -> None:
        held = list(self._overflow)
        taken = self.queue.put_many(held)
        for _ in range(taken):
            self._overflow.popleft()
        if self._overflow:
            asyncio.get_running_loop().call_later(0.01, self._drain_overflow)
        elif self._link is not None:
            self._link.resume()


class Inbox(queue.Queue[Message]):
    """The bounded queue between the receive loop and the batch writer, filled a read at a time."""

    def put_many(self, messages: list[Message]) -> int:
        """Append as many of `messages` as fit, without waiting; how many did."""
        with self.not_full:
            room = len(messages) if self.maxsize <= 0 else min(len(messages), self.maxsize - self._qsize())
            for message in messages[:room]:
                self._put(message)
            self.unfinished_tasks += room
            if room:
                self.not_empty.notify(room)
            return room

    def drop_all(self) -> int:
        """Forget everything queued; how many were."""
        with self.not_full:
            dropped = self._qsize()
            self.queue.clear()
            self.unfinished_tasks -= dropped
            self.not_full.notify_all()
            return dropped


class _Link(asyncio.Protocol):
    """One connection to the broker: bytes in, packets out through the `mqtt5` codec."""

    def __init__(self, receiver: Mqtt5Receiver) -> None:
        self.receiver = receiver
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[mqtt5.ConnAckPacket] = loop.create_future()
        self.suback: asyncio.Future[mqtt5.SubAckPacket] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()  # why the connection ended
        self.answers: dict[int, asyncio.Future[None]] = {}  # ping number -> its PINGRESP
        self.pings = self.pongs = 0
        self.paused = False
        self.session = 0
        self.last_sent = self.last_received = time.monotonic()
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        _settle(self.lost, f"connection lost: {exc}" if exc else "the broker closed the connection")

    def send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)
            self.last_sent = time.monotonic()

    def ping(self) -> asyncio.Future[None]:
        """Send a PINGREQ; the future is done when its PINGRESP comes."""
        self.pings += 1
        answer = self.answers[self.pings] = asyncio.get_running_loop().create_future()
        self.send(mqtt5.PingReqPacket().write())
        return answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def pause(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
            self.paused = True

    def resume(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()
            self.paused = False

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        buffer = self._buffer
        buffer += data
        received = self.receiver.clock()  # one arrival time for everything this read brought
        receiver, messages = self.receiver, []
        taken, malformed = 0, None
        with memoryview(buffer) as view:
            while taken < len(buffer):
                try:
                    packet, size = mqtt5.read(view[taken:])
                except IndexError:  # a packet continues in the next read
                    break
                except ValueError as exc:
                    malformed = (exc, bytes(view[taken : taken + 16]))
                    break
                taken += size
                if isinstance(packet, mqtt5.PublishPacket):
                    messages.append(receiver._message(self, packet, received))
                else:
                    self._control(packet)
        del buffer[:taken]
        if messages:
            receiver._deliver(self, messages)
        if malformed is not None:
            self._malformed(*malformed)

    def _control(self, packet: mqtt5.Packet) -> None:
        if isinstance(packet, mqtt5.PingRespPacket):
            self.pongs += 1
            answered = self.answers.pop(self.pongs, None)
            if answered is not None:
                _settle(answered, None)
        elif isinstance(packet, mqtt5.ConnAckPacket):
            if packet.reason_code == mqtt5.ConnAckReasonCode.SUCCESS:
                # Here, not in `_converse`: a resumed session's messages follow in the same read.
                self.session = self.receiver._begin_session(self, packet.session_present)
            _settle(self.connack, packet)
        elif isinstance(packet, mqtt5.SubAckPacket):
            _settle(self.suback, packet)
        elif isinstance(packet, mqtt5.DisconnectPacket):
            why = f": {packet.reason_str}" if packet.reason_str else ""
            _settle(self.lost, f"the broker disconnected ({packet.reason_code.name}{why})")
            self.close()
        else:
            log.warning("ignoring an unexpected %s from the broker", type(packet).__name__)

    def _malformed(self, exc: Exception, head: bytes) -> None:
        broker = self.receiver.broker
        reason = (
            f"malformed packet from the broker at {broker.host}:{broker.port} ({exc}; starts {head.hex()})"
        )
        log.error("%s; reconnecting", reason)
        self.receiver.stats.last_error = reason
        _settle(self.lost, reason)
        if self._transport is not None:
            self._transport.abort()


def _settle(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)
