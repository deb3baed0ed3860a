"""Create the project's Kafka topics with a known partition count (6: the unit of
consumer parallelism per service) before anything produces or consumes."""
from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

PARTITIONS = 6
SERVICES = ("intake", "assessment", "referral", "funding", "notification")


def public_topics() -> list[str]:
    return [f"jingkang.{s}.v1" for s in SERVICES]


def ensure_topics(bootstrap: str, names: list[str], partitions: int = PARTITIONS) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="jingkang-topics", request_timeout_ms=15000)
    try:
        missing = [n for n in names if n not in set(admin.list_topics())]
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass  # another process created it first
    finally:
        admin.close()
