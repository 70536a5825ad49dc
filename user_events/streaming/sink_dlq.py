"""Poison messages into the dead-letter topic and the consumer offsets past them, in one Kafka transaction."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from user_events.streaming.kafka_io import dlq_headers
from user_events.streaming.sink_errors import TransientError, fault_point


class DeadLetterMixin:
    """`send_to_dlq` for KafkaSink: uses its Kafka clients, consumer, `committable()`, `retry` and stats."""

    @property
    def dlq_producer(self) -> Producer:
        """A transactional producer, `transactional.id` = `<group>|<instance id>.dlq`: stable per sink instance, so
        a restarted instance fences its dead predecessor and aborts the transaction it left open."""
        if self._dlq_producer is None:
            tid = f"{self.group}|{self.instance_label()}.dlq"
            producer = self.kafka.producer(
                **{
                    "transactional.id": tid,
                    "linger.ms": 0,
                    "message.timeout.ms": 30000,
                    "transaction.timeout.ms": 60000,
                }
            )
            self.retry("DLQ init_transactions", lambda: self._kafka_call(lambda: producer.init_transactions(30)))
            self._dlq_producer = producer
        return self._dlq_producer

    @staticmethod
    def _kafka_call(fn: Callable[[], object]):
        try:
            return fn()
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise
            raise TransientError(str(exc)) from exc

    def send_to_dlq(self, poison: list[tuple[Message, str]]) -> None:
        """Produce each (message, error) to the DLQ **and** commit the consumer offsets in one Kafka transaction
        (`send_offsets_to_transaction`), so a poison message is in the DLQ exactly once for read_committed
        readers, whatever crash happens between the two.

        The caller has stored everything before these messages first (`committable()` covers each poison
        message's partition up to past it), and the offsets committed are `committable()`. A failed attempt is
        aborted and retried whole with backoff; a crash leaves an open transaction that the restarted instance
        (same transactional.id) aborts, or the broker after transaction.timeout.ms."""
        if not poison:
            return
        offsets = {p: o for p, o in self.committable().items() if p in self.owned}
        late = [(m.partition(), m.offset()) for m, _ in poison if offsets.get(m.partition(), -1) <= m.offset()]
        if late:
            raise RuntimeError(f"DLQ transaction before its messages were stored: {late[:3]} not below {offsets}")

        def attempt() -> None:
            producer = self.dlq_producer
            try:
                producer.begin_transaction()
                for m, error in poison:
                    producer.produce(
                        self.dlq_topic, value=m.value(), key=m.key(), headers=dlq_headers(m, error, self.group)
                    )
                producer.flush(40)
                fault_point("after_dlq_write")
                tps = [TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())]
                producer.send_offsets_to_transaction(tps, self.consumer.consumer_group_metadata(), 30)
                producer.commit_transaction(30)
            except KafkaException as exc:
                if exc.args[0].fatal():
                    raise
                try:
                    producer.abort_transaction(30)
                except KafkaException:
                    pass
                raise TransientError(f"DLQ transaction failed: {exc}") from exc

        self.retry("DLQ transaction", attempt)
        self._committed.update(offsets)
        self.stats.dlq += len(poison)
        self.stats.commits += 1
        for m, error in poison[:5]:
            self.log.warning(
                "%s sink: poison message %s[%d]@%d -> %s: %s",
                self.name,
                m.topic(),
                m.partition(),
                m.offset(),
                self.dlq_topic,
                error,
            )
