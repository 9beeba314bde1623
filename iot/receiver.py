"""The MQTT receive loop: paho's network thread takes messages into a bounded queue.

What both receive loops share lives here too: the message, the broker's address, the client id,
the subscriptions and the decoding of a message on arrival. MQTT 5 brokers are read by
`iot.mqtt5_receiver` (an asyncio reader on the `mqtt5` codec); this paho receiver serves MQTT
3.1.1 brokers (the demo's embedded one).

Each message is decoded on arrival (overlapping the writer's database round trips) and waits in
the queue with the session it came on, to be acknowledged once its readings are committed.
Back-pressure comes from MQTT 5's Receive Maximum (`iot.queue`): the broker sends at most that
many unacknowledged messages; the queue has the same bound, which holds MQTT 3.1.1 brokers back
through TCP. Retained messages are not replayed when a persistent session is resumed (MQTT 5).
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.config import Deployment, Settings
from iot.payloads import Decoded, Decoder, Refusal, subscription
from iot.stats import IngestStats

log = logging.getLogger(__name__)

SESSION_EXPIRY = 7 * 86400  # seconds the broker keeps our session (and its messages) while we are away


class Message(NamedTuple):
    """A message from the broker, decoded, waiting to be acknowledged once committed (a tuple:
    the receive loop makes one per message, up to several hundred thousand a second)."""

    topic: str
    payload: bytes
    mid: int
    received: datetime
    session: int  # connection generation: a mid is only valid on the connection it came on
    decoded: Decoded


@dataclass(frozen=True)
class BrokerAddress:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    mqtt5: bool = True  # False for brokers that speak only 3.1.1 (the demo's embedded one)
    tls: bool = False  # verified against the system's CAs, or the file SSL_CERT_FILE names
    # A client certificate (PEM) for a broker that requires one, and its key (None: in `cert`).
    cert: Path | None = None
    key: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert or self.key) and not self.tls:
            raise ValueError("a client certificate (OFFSITE_MQTT_CERT) needs a TLS broker URL: mqtts://")
        if self.key and not self.cert:
            raise ValueError(
                "OFFSITE_MQTT_KEY is set without OFFSITE_MQTT_CERT, the certificate it belongs to"
            )

    @classmethod
    def from_url(
        cls,
        url: str,
        username: str | None = None,
        password: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> BrokerAddress:
        """``mqtt://HOST[:PORT]`` (default 1883) or ``mqtts://HOST[:PORT]`` (TLS, default 8883)."""
        parts = urlsplit(url)
        tls = parts.scheme == "mqtts"
        port = parts.port or (8883 if tls else 1883)
        return cls(parts.hostname or "127.0.0.1", port, username, password, tls=tls, cert=cert, key=key)

    @classmethod
    def from_settings(cls, url: str, settings: Settings) -> BrokerAddress:
        """The broker at `url` with the credentials and client certificate of the environment;
        a certificate that cannot be loaded is refused here, not at each reconnection."""
        address = cls.from_url(
            url, settings.mqtt_username, settings.mqtt_password, settings.mqtt_cert, settings.mqtt_key
        )
        address.tls_context()
        return address

    def tls_context(self) -> ssl.SSLContext | None:
        """For `tls`: the system's CAs (or the file SSL_CERT_FILE names), the host name checked,
        and the client certificate when there is one."""
        if not self.tls:
            return None
        context = ssl.create_default_context()
        if self.cert is not None:
            try:
                context.load_cert_chain(self.cert, self.key)
            except (OSError, ssl.SSLError) as exc:
                key = f" with the key {self.key}" if self.key else ""
                raise ValueError(
                    f"the MQTT client certificate {self.cert}{key} (OFFSITE_MQTT_CERT, OFFSITE_MQTT_KEY)"
                    f" cannot be loaded: {exc}"
                ) from exc
        return context

    def explain(self, exc: BaseException) -> str:
        """Why a connection failed, in words an administrator can act on."""
        reason = str(exc) or type(exc).__name__
        # TLS 1.3: the broker's verdict on our certificate comes as an alert after the handshake.
        if "CERTIFICATE_REQUIRED" in reason.upper().replace(" ", "_"):
            if self.cert is None:
                need = "set OFFSITE_MQTT_CERT and OFFSITE_MQTT_KEY"
                return f"the broker requires a client certificate; {need} ({reason})"
            return f"the broker refused the client certificate {self.cert} ({reason})"
        return reason


def client_id_for(deployment: Deployment) -> str:
    """The ingest's MQTT client id from `broker.client_id`.

    In a share group several workers take the same configuration: each adds its host name, so
    their ids differ and each resumes its own persistent session after a restart.
    """
    base = deployment.broker.client_id
    return f"{base}-{socket.gethostname()}" if deployment.iot.share_group else base


def topic_filters(deployment: Deployment) -> list[str]:
    """The ingest's subscriptions: sensor and gateway topics, in the share group if there is one."""
    topics = [subscription(deployment.iot.sensor_topic), subscription(deployment.iot.gateway_topic)]
    group = deployment.iot.share_group
    return [f"$share/{group}/{t}" if group else t for t in topics]


def decode_message(
    decoder: Decoder, stats: IngestStats, topic: str, payload: bytes, received: datetime, retained: bool
) -> Decoded:
    """A message's readings and refusals; a decoder bug becomes a refusal, never a lost message."""
    try:
        return decoder.decode(topic, payload, received, retained=retained)
    except Exception as exc:  # a decoder bug must not lose the message or stop the client
        log.exception("decoding a message on %s failed", topic)
        stats.last_error = str(exc)
        return Decoded(refusals=[Refusal(f"internal error while decoding: {exc}"[:200])])


class MqttReceiver:
    """A paho client with a persistent session (shared subscriptions when `iot.share_group` is
    set) feeding `queue`; acknowledgement is manual, by `ack()`."""

    def __init__(
        self,
        deployment: Deployment,
        broker: BrokerAddress,
        client_id: str,
        decoder: Decoder,
        clock: Callable[[], datetime],
        stats: IngestStats,
        stop: threading.Event,
    ) -> None:
        self.deployment = deployment
        self.broker = broker
        self.decoder = decoder
        self.clock = clock
        self.stats = stats
        self.queue: queue.Queue[Message] = queue.Queue(maxsize=deployment.iot.queue)
        self._stop = stop
        self._session = 0
        self._connected = threading.Event()
        v5 = broker.mqtt5
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        context = broker.tls_context()
        if context is not None:
            self._client.tls_set_context(context)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)

    def start(self) -> None:
        """Connect in the background (Receive Maximum = `iot.queue` on MQTT 5) and keep reconnecting."""
        if self.broker.mqtt5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = self.deployment.iot.queue
            self._client.connect_async(
                self.broker.host, self.broker.port, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(self.broker.host, self.broker.port)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect; unacknowledged messages stay with the broker."""
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float) -> bool:
        """True once the broker has granted the subscriptions: from then on nothing published to
        them is missed (a CONNACK alone leaves a window where a message finds no subscriber)."""
        return self._connected.wait(timeout)

    def ack(self, message: Message) -> bool:
        """Acknowledge a message whose readings are committed; False when its session is gone (the
        broker redelivers it, and the store keeps it once)."""
        if message.session != self._session:
            return False
        self._client.ack(message.mid, 1)
        return True

    def ack_all(self, messages: list[Message]) -> int:
        """`ack` for each of a committed batch's messages; how many are acknowledged."""
        return sum(self.ack(message) for message in messages)

    # --- paho's network thread -------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused the connection: %s", reason)
            return
        self._session += 1
        self.stats.connections += 1
        filters = topic_filters(self.deployment)
        if self.broker.mqtt5:  # a resumed session's subscriptions exist: no replay of retained messages
            options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
            client.subscribe([(f, options) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, reasons: list[ReasonCode], _p: Properties
    ) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:  # an ACL that denies the topics: say so, the session takes nothing
            log.error("the broker refused the subscriptions: %s", ", ".join(map(str, refused)))
            return
        self._connected.set()

    def _on_disconnect(self, _c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        # Decoding here, on the network thread, overlaps it with the writer's database round trips.
        payload, received = bytes(msg.payload), self.clock()
        decoded = decode_message(self.decoder, self.stats, msg.topic, payload, received, bool(msg.retain))
        message = Message(msg.topic, payload, msg.mid, received, self._session, decoded)
        self.stats.received += 1
        while not self._stop.is_set():  # full: the writer is behind; waiting here holds the broker back
            try:
                self.queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue
