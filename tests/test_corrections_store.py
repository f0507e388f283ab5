"""The corrections store on real SQLite and PostgreSQL: migrations, pictures kept once,
feedback and uncertain answers queued, the review order, decisions read back by training."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from shoplens.corrections import store as corrections
from shoplens.corrections.store import AlreadyDecided, Answer, Correction, UnknownItem
from shoplens.imaging import ImageRejected, jpeg_bytes

HEAD = "0003"  # the newest migration in shoplens/corrections/migrations/versions


@pytest.fixture()
def store(database_url, tmp_path):
    opened = corrections.open_store(database_url, tmp_path / "pictures")
    yield opened
    opened.close()


@pytest.fixture()
def jpeg(drawn):
    def make(category="dress", colour="red", seed=0):
        return jpeg_bytes(drawn(category, colour, seed))
    return make


def test_migrations_create_the_schema_once_and_again_is_a_no_op(database_url, tmp_path):
    corrections.open_store(database_url, tmp_path / "p").close()
    store = corrections.open_store(database_url, tmp_path / "p")  # a second open finds it migrated
    try:
        assert corrections.schema_revision(store.engine) == HEAD
        tables = set(inspect(store.engine).get_table_names())
        assert {"pictures", "feedback", "review_items", "alembic_version"} <= tables
        assert store.row_counts() == {"pictures": 0, "feedback": 0, "review_items": 0}
    finally:
        store.close()


def test_an_older_schema_is_brought_to_the_newest_keeping_its_rows(database_url, tmp_path, jpeg):
    engine = corrections.make_engine(database_url)
    corrections.migrate(engine, "0001")  # the first schema, before review decisions recorded who made them
    old = corrections.CorrectionsStore(engine, corrections.PictureStore(tmp_path / "p"))
    sha1 = old.keep_picture(jpeg())
    with engine.begin() as connection:  # a row as the first schema's code wrote it
        connection.execute(text(
            "INSERT INTO review_items (picture_sha1, reason, model_version, predicted_category, uncertainty, "
            "disagrees, status, created_at) VALUES (:sha1, 'uncertain', '1', 'dress', 0.9, false, 'open', "
            "CURRENT_TIMESTAMP)"), {"sha1": sha1})
    assert "decided_by" not in {column["name"] for column in inspect(engine).get_columns("review_items")}
    engine.dispose()
    store = corrections.open_store(database_url, tmp_path / "p")
    try:
        assert corrections.schema_revision(store.engine) == HEAD
        (queued,) = store.review_queue().items
        assert store.decide(queued.item.id, reviewer="admin").decided_by == corrections.key_hash("admin")
        assert [c.sha1 for c in corrections.accepted_corrections(database_url)] == [sha1]
    finally:
        store.close()


def test_a_picture_is_kept_once_by_sha1(store, jpeg):
    picture = jpeg()
    first = store.keep_picture(picture, "https://shop.example/a.jpg")
    assert store.keep_picture(picture) == first and store.has_picture(first)
    path = Path(store.picture_location(first))
    assert path.read_bytes() == picture and path.name == f"{first}.jpg"
    assert store.row_counts()["pictures"] == 1
    with pytest.raises(ImageRejected):
        store.keep_picture(b"not a picture")
    assert store.row_counts()["pictures"] == 1


def test_feedback_is_stored_queued_and_read_back_once_decided(store, jpeg, database_url):
    sha1 = store.keep_picture(jpeg("dress", "red"))
    answer = Answer("3", "shirt", "red", 0.55, corrections.uncertainty([{"probability": 0.55},
                                                                          {"probability": 0.40}]))
    store.record_feedback(sha1, answer, Correction("dress", "red"), page_url="https://shop.example/p",
                          picture_url="https://cdn.example/a.jpg", sender="key")
    assert store.row_counts() == {"pictures": 1, "feedback": 1, "review_items": 1}
    (queued,) = store.review_queue().items
    assert queued.item.disagrees and queued.item.proposed_category == "dress"
    assert queued.page_url == "https://shop.example/p" and queued.item.uncertainty == pytest.approx(0.85)
    assert corrections.accepted_corrections(database_url) == []  # nothing decided yet
    store.decide(queued.item.id)
    (accepted,) = corrections.accepted_corrections(database_url)
    assert (accepted.sha1, accepted.category, accepted.colour, accepted.garment) == (sha1, "dress", "red", True)
    assert accepted.picture_path.read_bytes() == jpeg("dress", "red")
    with pytest.raises(AlreadyDecided):
        store.decide(queued.item.id)
    with pytest.raises(UnknownItem):
        store.decide(10_000)


def test_fixing_and_not_a_garment_and_the_last_decision_wins(store, jpeg, database_url):
    sha1 = store.keep_picture(jpeg("pants", "blue"))
    item = store.record_uncertain(sha1, Answer("3", "pants", "blue", 0.5, 0.9))
    assert store.record_uncertain(sha1, Answer("3", "pants", "blue", 0.5, 0.9)) is None  # once per version
    store.record_feedback(sha1, Answer("3", "pants", "blue"), Correction(None, None, garment=False))
    assert store.review_queue().total == 1  # one entry per picture
    store.decide(item, Correction("shorts", "blue"))
    assert store.review_queue().total == 0  # the picture's other item is closed with it
    assert [(c.category, c.garment) for c in corrections.accepted_corrections(database_url)] == [("shorts", True)]
    later = store.record_uncertain(sha1, Answer("4", "shorts", "blue", 0.5, 0.9))
    store.decide(later, Correction(None, None, garment=False))
    assert [(c.category, c.colour, c.garment) for c in corrections.accepted_corrections(database_url)] == [
        (None, None, False)]


def test_review_queue_order_disagreement_then_uncertainty_with_variety(store, jpeg):
    def queue(category, colour, seed, uncertainty):
        sha1 = store.keep_picture(jpeg(category, colour, seed))
        store.record_uncertain(sha1, Answer("3", category, colour, 0.5, uncertainty))
        return sha1

    most_uncertain = queue("dress", "red", 1, 0.99)
    near_copy = store.keep_picture(jpeg_bytes_resaved(jpeg("dress", "red", 1)))  # the same picture re-encoded
    store.record_uncertain(near_copy, Answer("3", "dress", "red", 0.5, 0.98))
    other_class = queue("pants", "blue", 2, 0.60)
    certain = queue("shirt", "blue", 3, 0.10)
    corrected = store.keep_picture(jpeg("shirt", "red", 4))
    store.record_feedback(corrected, Answer("3", "shirt", "red", 0.99, 0.02), Correction("dress", "red"))
    agreeing = store.keep_picture(jpeg("pants", "red", 5))
    store.record_feedback(agreeing, Answer("3", "pants", "red", 0.9, 0.2), Correction("pants", "red"))

    order = [entry.item.picture_sha1 for entry in store.review_queue().items]
    # the disagreeing correction first despite its certainty; the near copy of the most uncertain
    # picture waits until a picture of another class came between them
    assert order == [corrected, most_uncertain, other_class, near_copy, agreeing, certain]
    page = store.review_queue(offset=2, limit=2)
    assert [entry.item.picture_sha1 for entry in page.items] == order[2:4] and page.total == 6


def test_a_correction_is_one_vote_per_key_picture_and_model_version(store, jpeg):
    sha1 = store.keep_picture(jpeg())
    answer = Answer("3", "dress", "red")
    votes = [store.record_feedback(sha1, answer, Correction("shirt", "red"), sender="flooder") for _ in range(30)]
    assert {vote.feedback_id for vote in votes} == {votes[0].feedback_id}
    assert [vote.updated for vote in votes[:2]] == [False, True]
    last = store.record_feedback(sha1, answer, Correction(None, None, garment=False), sender="flooder")
    assert last.updated and store.row_counts() == {"pictures": 1, "feedback": 1, "review_items": 1}
    (entry,) = store.review_queue().items
    assert entry.reports == 1 and entry.item.proposed_garment is False  # the vote says what it said last
    store.record_feedback(sha1, answer, Correction("shirt", "red"), sender="someone else")
    store.record_feedback(sha1, Answer("4", "dress", "red"), Correction("shirt", "red"), sender="flooder")
    (entry,) = store.review_queue().items
    assert entry.reports == 2 and store.row_counts()["feedback"] == 3  # a new model version is a new vote


def test_one_key_cannot_buy_the_review_queue_or_pass_its_daily_budget(store, jpeg):
    flooded = [store.keep_picture(jpeg("shirt", "blue", seed)) for seed in range(30)]
    for sha1 in flooded:  # the flooder's corrections all disagree: each would rank first
        store.record_feedback(sha1, Answer("3", "dress", "blue"), Correction("shirt", "blue"), sender="flooder")
    others = [store.keep_picture(jpeg("pants", "red", 100 + seed)) for seed in range(20)]
    for index, sha1 in enumerate(others):
        store.record_uncertain(sha1, Answer("3", "pants", "red", 0.5, 0.9 - index / 100))
    first = store.review_queue(limit=corrections.FIRST_PAGE).items
    held = sum(entry.item.picture_sha1 in flooded for entry in first)
    assert held == corrections.SENDER_SHARE and len(first) == corrections.FIRST_PAGE
    assert store.review_queue(limit=100).total == 50  # held back, not dropped
    rows = store.row_counts()["feedback"]
    store.record_feedback(others[0], Answer("3", "pants", "red"), Correction("shorts", "red"), sender="budget",
                          daily_budget=1)
    with pytest.raises(corrections.BudgetSpent):
        store.record_feedback(others[1], Answer("3", "pants", "red"), Correction("shorts", "red"), sender="budget",
                              daily_budget=1)
    assert store.row_counts()["feedback"] == rows + 1  # nothing written past the budget
    again = store.record_feedback(others[0], Answer("3", "pants", "red"), Correction("skirt", "red"),
                                  sender="budget", daily_budget=1)
    assert again.updated  # changing a vote already cast spends nothing


def jpeg_bytes_resaved(picture: bytes) -> bytes:
    import io

    from PIL import Image

    return jpeg_bytes(Image.open(io.BytesIO(picture)).convert("RGB"), 80)


def test_opening_fresh_databases_together_migrates_each_once(database_url, tmp_path):
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"  # a second database migrated in the same process meanwhile
    with ThreadPoolExecutor(6) as pool:  # as gunicorn's workers and the recorder threads do at start
        stores = list(pool.map(lambda url: corrections.open_store(url, tmp_path / "p"), [database_url, other] * 3))
    try:
        assert [corrections.schema_revision(store.engine) for store in stores] == [HEAD] * 6
    finally:
        for store in stores:
            store.close()
