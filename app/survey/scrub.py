"""Wiping the traces that storage itself leaves between participation and responses.

On PostgreSQL a submit writes the participation's new row version and the response in one
transaction: both carry the same `xmin` (transaction id), and both are appended in submission
order (`ctid`). `scrub()` rewrites every submitted participation and every response of a survey
in one transaction (so they all share one new `xmin`) and then reorders the responses table by
its random primary key (CLUSTER). On SQLite the responses table is already ordered by the random
id; the write-ahead log, which keeps each transaction's pages together until a checkpoint, is
checkpointed and truncated. See docs/privacy.md.
"""

from __future__ import annotations

from sqlalchemy import text, update

from app.db_roles import maintenance_engine
from app.extensions import db
from app.survey.surveys_models import Participation, Response, Survey


def scrub(survey: Survey) -> dict[str, int]:
    """Rewrite the survey's envelopes and contents together and commit; return row counts."""
    parts = db.session.execute(
        update(Participation)
        .where(Participation.survey_id == survey.id, Participation.status == "submitted")
        .values(status="submitted", retry_box=None)  # the retry window ends here too
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(
        update(Response)
        .where(Response.survey_id == survey.id)
        .values(answered_on=Response.answered_on)
        .execution_options(synchronize_session=False)
    )
    counts = {
        "participations": int(parts.rowcount),  # type: ignore[attr-defined]
        "responses": int(rows.rowcount),  # type: ignore[attr-defined]
    }
    db.session.commit()
    # The main database (responses and participation live there), as the tables' owner: the
    # runtime role may not CLUSTER or VACUUM (A75).
    engine = maintenance_engine(None)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CLUSTER survey_responses USING pk_survey_responses"))
            conn.execute(text("VACUUM ANALYZE survey_participations"))
        else:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return counts
