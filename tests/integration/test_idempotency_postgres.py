"""Retries on the real PostgreSQL (issue 10, item 4): the same scenarios as
tests/unit/test_idempotency.py, where the store's own transactions decide the races."""
from __future__ import annotations

from tests.unit.test_idempotency import concurrent_identical_consents_record_one, concurrent_payments_with_one_key_pay_once


def test_50_concurrent_identical_payments_with_one_key_make_one_payment(pg_store_url):
    concurrent_payments_with_one_key_pay_once(pg_store_url)


def test_50_concurrent_identical_consents_record_one_consent(pg_store_url):
    concurrent_identical_consents_record_one(pg_store_url)
