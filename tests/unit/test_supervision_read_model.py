"""The supervision read model as the worker feeds it (no Kafka: messages built here, the
store an in-memory SQLite): a redelivered message or a republished CloudEvent counts once,
a message that can never be used is handed back for the dead-letter topic while the
rest of the poll is stored, and a closed month below target is recorded once."""
from __future__ import annotations

from datetime import date

from services.supervision.application import Message, Reviews, Rules, Supervision
from services.supervision.contracts import to_public
from services.supervision.domain import IndicatorReview, closed_months
from services.supervision.readmodel import ReadModel
from shared.envelope import encode
from shared.clock import FixedClock
from tests.unit.test_indicators import D, END, START, supervision_of, twenty_clients


def messages(events: list[dict], topic: str = "jingkang.intake.v1", first_offset: int = 0) -> list[Message]:
    return [Message(topic, 0, first_offset + i, encode(ce)) for i, ce in enumerate(events)]


def test_a_redelivered_poll_and_a_republished_event_count_once():
    supervision = Supervision(ReadModel("memory://"), Rules())
    events = [ce for ce in twenty_clients().events if "specversion" in ce]
    first = supervision.prepare(messages(events), supervision.model.positions())
    supervision.store(first)
    before = supervision.model.dump()

    # The same poll again (the group rebalanced before Kafka heard of the commit)
    again = supervision.prepare(messages(events), supervision.model.positions())
    supervision.store(again)
    # And the relay republishing the first event at a later offset
    copy = supervision.prepare(messages(events[:1], first_offset=len(events)), supervision.model.positions())
    supervision.store(copy)

    assert again.rows == [] and again.duplicates == len(events)
    assert supervision.model.dump()["facts"] == before["facts"]
    assert supervision.model.positions() == {("jingkang.intake.v1", 0): len(events) + 1}


def test_an_unusable_message_is_handed_back_for_the_dead_letter_topic_and_the_rest_is_stored():
    supervision = Supervision(ReadModel("memory://"), Rules())
    good = [ce for ce in twenty_clients().events if "specversion" in ce][:3]
    broken = dict(good[0], id="broken-1", data={"client_id": "not a uuid"})  # ClientRegistered, not its schema
    batch = supervision.prepare(
        [Message("jingkang.intake.v1", 0, 0, b"\xff not json"), Message("jingkang.intake.v1", 0, 1, encode(broken))]
        + messages(good, first_offset=2), supervision.model.positions())
    supervision.store(batch)

    assert [(m.offset, reason.split(":")[0]) for m, reason in batch.dead] == [(0, "InvalidMessage"), (1, "Unusable")]
    assert len(batch.rows) == 3
    assert supervision.model.positions()[("jingkang.intake.v1", 0)] == 5  # the partition moved past them


def test_the_model_serves_the_same_figures_as_the_events_and_the_evidence_rows_name_public_types():
    supervision = supervision_of(twenty_clients().events)
    figures = {f["name"]: f for f in supervision.indicators(D, START, END)["indicators"]}
    assert figures["referral_closure"]["numerator"] == 4 and figures["referral_closure"]["denominator"] == 7
    page = supervision.evidence("funds_paid_against_budget", D, START, END, page=1, size=50)
    assert page["total"] == 5
    assert {i["type"] for i in page["items"]} == {"jingkang.funding.PurchaseContractSigned.v1",
                                                   "jingkang.funding.PurchaseContractPaid.v1"}


def test_a_month_below_target_is_recorded_once_and_published_as_indicator_below_target():
    model = ReadModel("memory://")
    reviews = Reviews(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=FixedClock())
    supervision = supervision_of(twenty_clients().events)
    supervision = Supervision(supervision.model, Rules(close_after_days=15, review_months=12), reviews)

    recorded = supervision.review_closed_periods(date(2026, 7, 20))
    again = supervision.review_closed_periods(date(2026, 7, 21))

    assert again == []
    below = [(r.district, r.indicator, r.period) for r in recorded]
    assert len(below) == len(set(below)) and (D, "standardised_service", "2026-03") in below
    assert {indicator for _, indicator, _ in below} <= {"standardised_service", "street_coverage", "welfare_lottery_share"}
    # Each review is stored once and maps to the public event
    stored = [reviews.mapper.to_domain_event(n) for n in reviews.notifications()]
    assert len(stored) == len(recorded)
    public = [p for e in stored for p in to_public(e)]
    march = next(p for p in public if (p.district_code, p.indicator, p.period) == (D, "standardised_service", "2026-03"))
    assert march.value < march.target and march.subject == D
    # A second process that reviews the same month (its model not yet marked) records nothing new
    model.close()
    fresh = Supervision(supervision_of(twenty_clients().events).model, Rules(), reviews)
    assert fresh.review_closed_periods(date(2026, 7, 20)) == []
    assert len(list(reviews.notifications())) == len(recorded)


def test_a_month_is_closed_some_days_after_its_end_and_only_recent_months_are_reviewed():
    assert closed_months(date(2026, 7, 14), 15, 12, date(2026, 1, 5))[-1] == (date(2026, 5, 1), date(2026, 5, 31))
    assert closed_months(date(2026, 7, 15), 15, 12, date(2026, 1, 5))[-1] == (date(2026, 6, 1), date(2026, 6, 30))
    assert closed_months(date(2026, 7, 15), 15, 12, date(2026, 1, 5))[0] == (date(2026, 1, 1), date(2026, 1, 31))
    assert len(closed_months(date(2026, 7, 15), 15, 3, date(2020, 1, 1))) == 3
    assert IndicatorReview.create_id(district=D, indicator="x", period="2026-06") == IndicatorReview.create_id(
        district=D, indicator="x", period="2026-06")


def test_a_fact_stored_after_a_query_is_in_the_next_answer():
    p = twenty_clients()
    supervision = supervision_of(p.events)
    before = {f["name"]: f for f in supervision.indicators(D, START, END)["indicators"]}
    # A new client of the district, registered in the period (a later poll of the worker)
    from tests.unit.test_indicators import Population, client
    later = Population()
    later._n = iter(range(10_000, 10_010))
    later.register(client(500), date(2026, 2, 1), f"{D}001")
    supervision.store(supervision.prepare(messages([ce for ce in later.events], topic="jingkang.intake.v1",
                                                   first_offset=len(p.events)), supervision.model.positions()))
    after = {f["name"]: f for f in supervision.indicators(D, START, END)["indicators"]}
    assert after["plan_within_30_days"]["denominator"] == before["plan_within_30_days"]["denominator"] + 1


def test_a_dashboards_trends_make_each_months_figures_once_and_a_new_fact_is_seen(monkeypatch):
    import services.supervision.application as application
    from services.supervision.indicators import NAMES

    population = twenty_clients()
    events = [ce for ce in population.events if "specversion" in ce]
    # Held back: a payment that arrives after the dashboard was first shown (it moves a figure)
    late = [ce for ce in events if ce["type"] == "jingkang.funding.PurchaseContractPaid.v1"][0]
    supervision = supervision_of([ce for ce in population.events if ce is not late])
    made = []
    real = application.figures
    monkeypatch.setattr(application, "figures", lambda *a, **k: made.append((k["start"], k["end"])) or real(*a, **k))

    # When the dashboard asks for the figures, then one trend per indicator, twice
    shown = [supervision.indicators(D, START, END)] + [supervision.trends(D, n, START, END) for n in NAMES]
    again = [supervision.indicators(D, START, END)] + [supervision.trends(D, n, START, END) for n in NAMES]
    # Then each period's figures were made once: the whole period and each of its six months
    assert len(made) == len(set(made)) == 7
    assert again == shown

    # And once a new fact is stored, the figures are made again from it, equal to a fresh model's
    supervision.store(supervision.prepare([Message("jingkang.any.v1", 0, 10_000, encode(late))], supervision.model.positions()))
    fresh = supervision_of(population.events)
    now = [supervision.indicators(D, START, END)] + [supervision.trends(D, n, START, END) for n in NAMES]
    assert now != shown
    assert now == [fresh.indicators(D, START, END)] + [fresh.trends(D, n, START, END) for n in NAMES]
