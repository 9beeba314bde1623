"""The supervision-action record is declared once (hub.records.SupervisionAction): the table the
migration makes has exactly its columns, and the INSERT and the API's schema derive from it."""

from __future__ import annotations

from dataclasses import fields

from api.schemas import RecordPublic
from hub.records import ACTION_COLUMNS, SupervisionAction
from hub.store.db import Database


def test_the_table_has_the_columns_of_the_record(db: Database) -> None:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'supervision_actions'"
            " ORDER BY ordinal_position"
        ).fetchall()
    assert [r[0] for r in rows] == [f.name for f in fields(SupervisionAction)]


def test_the_insert_and_the_api_schema_derive_from_the_record() -> None:
    declared = [f.name for f in fields(SupervisionAction)]
    assert [c for c in declared if c not in ACTION_COLUMNS] == ["id", "method"]  # the store fills them
    assert list(RecordPublic.model_fields) == declared
