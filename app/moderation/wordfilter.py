"""The word filter: new or edited content matching a listed word or pattern is held for review.

Words match anywhere, ignoring case and full-/half-width differences (text is NFKC-normalised
and case-folded first). Patterns are regular expressions matched against the same normalised
text. Two presets, phone numbers and email addresses, are on until a moderator switches them
off. Held content gets `hidden_at` and a reason meaning "awaiting review", so the visibility
rules hide it from everyone but its author and moderators, and a report with reason `held`
puts it in the moderation queue.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.db import utcnow
from app.extensions import db
from app.i18n import _, _l
from app.moderation.content import content_kind
from app.moderation.log import Action, record_action
from app.moderation.models import FilterEntry

WORD_MAX = 100
PATTERN_MAX = 200
HELD_REASON = "held"

# Japanese phone numbers: landlines (0X-XXXX-XXXX and shapes), mobiles (070/080/090), 0120,
# with hyphens, spaces, dots or brackets or none; also +81. Digits are already half-width.
# A match needs 10 or more digits (Japanese numbers have 10 or 11), so dates do not match.
PRESETS: dict[str, tuple[Any, str]] = {
    "phone": (
        _l("Phone numbers"),
        r"(?<!\d)(?:\+81[\s.-]?|0)\d{1,4}[\s.\-()]{0,2}\d{1,4}[\s.\-()]{0,2}\d{3,4}(?!\d)",
    ),
    "email": (_l("Email addresses"), r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
}

# A quantified group that is itself quantified ((a+)+, (a*)*, (\w+){2,}) can take exponential
# time on a near-miss; such patterns are refused when a moderator enters them.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


class FilterError(ValueError):
    """A word or pattern was refused; the message says why (for the moderator)."""


@dataclass(frozen=True)
class Match:
    kind: str  # word | pattern | preset
    value: str


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


def validate_pattern(pattern: str) -> str:
    """The cleaned pattern, or FilterError with a message for the moderator."""
    pattern = (pattern or "").strip()
    if not pattern:
        raise FilterError(_("Please enter a word or a pattern."))
    if len(pattern) > PATTERN_MAX:
        raise FilterError(_("Please use at most %(n)d characters.", n=PATTERN_MAX))
    try:
        re.compile(pattern)
    except re.error as err:
        raise FilterError(_("This is not a valid pattern: %(error)s", error=str(err))) from None
    if _NESTED_QUANTIFIER.search(pattern):
        raise FilterError(
            _("Please do not repeat a group that already repeats, such as (a+)+: it can be slow.")
        )
    return pattern


def validate_word(word: str) -> str:
    word = normalise(word).strip()
    if not word:
        raise FilterError(_("Please enter a word or a pattern."))
    if len(word) > WORD_MAX:
        raise FilterError(_("Please use at most %(n)d characters.", n=WORD_MAX))
    return word


def _entries() -> list[FilterEntry]:
    return list(db.session.execute(select(FilterEntry)).scalars())


def active_presets(entries: list[FilterEntry] | None = None) -> dict[str, bool]:
    """Each preset's key and whether it is on."""
    rows = entries if entries is not None else _entries()
    off = {e.value for e in rows if e.kind == "preset" and not e.active}
    return {key: key not in off for key in PRESETS}


def find_match(text: str) -> Match | None:
    """The first filter entry `text` matches, or None."""
    entries = _entries()
    norm = normalise(text)
    if not norm:
        return None
    for entry in entries:
        if entry.active and entry.kind == "word" and entry.value in norm:
            return Match("word", entry.value)
    for key, on in active_presets(entries).items():
        if on and any(_preset_hit(key, m.group()) for m in re.finditer(PRESETS[key][1], norm)):
            return Match("preset", key)
    for entry in entries:
        if entry.active and entry.kind == "pattern":
            try:
                found = re.search(entry.value, norm)
            except re.error:
                continue
            if found:
                return Match("pattern", entry.value)
    return None


def _preset_hit(key: str, found: str) -> bool:
    if key == "phone":
        return sum(ch.isdigit() for ch in found) >= 10
    return True


def describe(match: Match) -> str:
    """What matched, for the queue (a preset by its name)."""
    if match.kind == "preset":
        return str(PRESETS[match.value][0])
    return match.value


def screen(kind_key: str, obj: Any, text: str) -> bool:
    """Hold `obj` for review when `text` matches the word filter; return whether it did.

    Call after the new or edited content is flushed (its id is needed). Holding sets
    `hidden_at` and a translated `hidden_reason`, files a report with reason `held` and logs
    the hold. Content already hidden is left as it is. KeyError for an unknown kind.
    """
    from app.sns.models import Report

    kind = content_kind(kind_key)
    if not kind.hideable:
        return False
    match = find_match(text)
    if match is None:
        return False
    if obj.hidden_at is None:
        obj.hidden_at = utcnow()
        obj.hidden_reason = _("Waiting for a moderator to review it before it appears.")
    author_id = kind.author_id(obj)
    db.session.add(
        Report(
            reporter_id=None,
            kind=kind.key,
            object_id=obj.id,
            reason=HELD_REASON,
            details=describe(match)[:1000],
            excerpt=(text or "")[:2000],
        )
    )
    record_action(
        None,
        Action.HOLD,
        target_kind=kind.key,
        target_id=obj.id,
        member_id=author_id,
        reason=describe(match),
    )
    return True
