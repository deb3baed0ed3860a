"""Code every Jingkang service shares: the public event contract, the envelope,
event-store wiring, the outbox relay, the consumer machinery, telemetry, clock, errors."""
