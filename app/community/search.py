"""Search documents of communities, topics, replies in topics and events.

Audience terms follow `app.search.audience`: content of an open or approval community is for
`members`; content of a secret community carries the term `community:<id>`, which only that
community's members hold (added to a viewer's scope by `scope_terms`). Hits are reloaded
through `visible_to` and `can_view` as for every kind, so the index can only narrow.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from app.community.models import (
    Community,
    CommunityKind,
    CommunityMember,
    Event,
    Topic,
    TopicPost,
)
from app.i18n import _l
from app.permissions import visible_to
from app.search.analyzer import ParsedQuery, highlight
from app.search.audience import MEMBERS, Gate
from app.search.documents import Hit, Kind, Ref, SearchDoc, like_any, variants


def community_term(community: Community) -> str:
    if community.kind == CommunityKind.SECRET.value:
        return f"community:{community.id}"
    return MEMBERS


def community_gate(community: Community) -> Gate:
    # The owner field names nobody (0): a community is not hidden by its admin's blocks.
    return Gate(0, community_term(community), community.hidden_at is not None)


def scope_terms(viewer_id: int, session: Session) -> set[str]:
    """The secret-community terms a member holds."""
    ids = session.execute(
        select(CommunityMember.community_id)
        .join(Community, Community.id == CommunityMember.community_id)
        .where(CommunityMember.user_id == viewer_id, Community.kind == CommunityKind.SECRET.value)
    ).scalars()
    return {f"community:{i}" for i in ids}


class CommunitySearchKind(Kind):
    name = "community"
    label = _l("Community")
    model = Community

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        rows = session.execute(select(Community).where(Community.id.in_(ids))).scalars()
        return {
            c.id: [
                SearchDoc(
                    key=f"community:{c.id}",
                    kind=self.name,
                    object_id=c.id,
                    group=f"community:{c.id}",
                    title=c.name,
                    body=f"{c.category}\n{c.description}",
                    author_id=c.admin_id,
                    created_at=c.created_at,
                    gates=(community_gate(c),),
                    community_id=c.id,
                )
            ]
            for c in rows
        }

    def refs_for_change(self, obj: Any) -> list[Ref]:
        refs: list[Ref] = [(self.name, int(obj.id))]
        state: Any = inspect(obj)
        if not state.pending and any(
            state.attrs[a].history.has_changes() for a in ("kind", "hidden_at")
        ):
            # Its topics and events carry its audience term: re-index them too.
            session = state.session
            if session is not None:
                with session.no_autoflush:
                    refs += [
                        ("topic", int(i))
                        for i in session.execute(
                            select(Topic.id).where(Topic.community_id == obj.id)
                        ).scalars()
                    ]
                    refs += [
                        ("event", int(i))
                        for i in session.execute(
                            select(Event.id).where(Event.community_id == obj.id)
                        ).scalars()
                    ]
                    refs += [
                        ("topic_post", int(i))
                        for i in session.execute(
                            select(TopicPost.id)
                            .join(Topic, Topic.id == TopicPost.topic_id)
                            .where(Topic.community_id == obj.id)
                        ).scalars()
                    ]
        return refs

    def hit(self, obj: Community, viewer: Any, query: ParsedQuery) -> Hit:
        return Hit(
            kind=self.name,
            kind_label=str(self.label),
            title=obj.name,
            url=url_for("community.community", community_id=obj.id),
            snippet=highlight(obj.name + " ― " + obj.description, query),
            created_at=obj.created_at,
            author=None,
            object_id=obj.id,
        )

    def fallback(self, session: Session, viewer: Any, like: Any, parts: list[str]) -> Any:
        stmt = select(Community.id, Community.created_at, Community.admin_id).where(
            *[like_any([Community.name, Community.description], variants(p)) for p in parts]
        )
        return visible_to(stmt, viewer, Community)


class _ChildKind(Kind):
    """Topics and events: the author's gate plus their community's."""

    model: Any = Topic
    endpoint = ""
    arg = ""

    def _body(self, obj: Any) -> str:
        return str(obj.body)

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        model = self.model
        rows = session.execute(
            select(model, Community)
            .join(Community, Community.id == model.community_id)
            .where(model.id.in_(ids), model.deleted_at.is_(None))
        ).all()
        return {
            obj.id: [
                SearchDoc(
                    key=f"{self.name}:{obj.id}",
                    kind=self.name,
                    object_id=obj.id,
                    group=f"{self.name}:{obj.id}",
                    title=obj.title,
                    body=self._body(obj),
                    author_id=obj.author_id,
                    created_at=obj.created_at,
                    gates=(
                        Gate(obj.author_id, MEMBERS, obj.hidden_at is not None),
                        community_gate(community),
                    ),
                    community_id=community.id,
                )
            ]
            for obj, community in rows
        }

    def hit(self, obj: Any, viewer: Any, query: ParsedQuery) -> Hit:
        return Hit(
            kind=self.name,
            kind_label=str(self.label),
            title=obj.title,
            url=url_for(self.endpoint, **{self.arg: obj.id}),
            snippet=highlight(obj.title + " ― " + self._body(obj), query),
            created_at=obj.created_at,
            author=obj.author,
            object_id=obj.id,
        )

    def fallback(self, session: Session, viewer: Any, like: Any, parts: list[str]) -> Any:
        model = self.model
        stmt = select(model.id, model.created_at, model.author_id).where(
            *[like_any([model.title, model.body], variants(p)) for p in parts]
        )
        return visible_to(stmt, viewer, model)


class TopicSearchKind(_ChildKind):
    name = "topic"
    label = _l("Topic")
    model = Topic
    endpoint = "community.topic"
    arg = "topic_id"

    def refs_for_change(self, obj: Any) -> list[Ref]:
        refs: list[Ref] = [(self.name, int(obj.id))]
        state: Any = inspect(obj)
        if not state.pending and any(
            state.attrs[a].history.has_changes() for a in ("hidden_at", "deleted_at")
        ):
            # Its replies carry the topic's gate: hidden or deleted with it.
            session = state.session
            if session is not None:
                with session.no_autoflush:
                    refs += [
                        ("topic_post", int(i))
                        for i in session.execute(
                            select(TopicPost.id).where(TopicPost.topic_id == obj.id)
                        ).scalars()
                    ]
        return refs


class TopicPostSearchKind(Kind):
    """A reply: its own gate, its topic's and its community's. The topic's title is shown
    with the hit but not searched (it is the topic's document)."""

    name = "topic_post"
    label = _l("Reply in a topic")
    model = TopicPost

    def documents(self, session: Session, ids: list[int]) -> dict[int, list[SearchDoc]]:
        rows = session.execute(
            select(TopicPost, Topic, Community)
            .join(Topic, Topic.id == TopicPost.topic_id)
            .join(Community, Community.id == Topic.community_id)
            .where(
                TopicPost.id.in_(ids), TopicPost.deleted_at.is_(None), Topic.deleted_at.is_(None)
            )
        ).all()
        return {
            post.id: [
                SearchDoc(
                    key=f"{self.name}:{post.id}",
                    kind=self.name,
                    object_id=post.id,
                    group=f"{self.name}:{post.id}",
                    title="",
                    body=post.body,
                    author_id=post.author_id,
                    created_at=post.created_at,
                    gates=(
                        Gate(post.author_id, MEMBERS, post.hidden_at is not None),
                        Gate(topic.author_id, MEMBERS, topic.hidden_at is not None),
                        community_gate(community),
                    ),
                    community_id=community.id,
                )
            ]
            for post, topic, community in rows
        }

    def hit(self, obj: TopicPost, viewer: Any, query: ParsedQuery) -> Hit:
        return Hit(
            kind=self.name,
            kind_label=str(self.label),
            title=obj.topic.title,
            url=url_for(
                "community.topic", topic_id=obj.topic_id, post=obj.id, _anchor=f"post-{obj.id}"
            ),
            snippet=highlight(obj.body, query),
            created_at=obj.created_at,
            author=obj.author,
            object_id=obj.id,
        )

    def fallback(self, session: Session, viewer: Any, like: Any, parts: list[str]) -> Any:
        stmt = select(TopicPost.id, TopicPost.created_at, TopicPost.author_id).where(
            *[like_any([TopicPost.body], variants(p)) for p in parts]
        )
        return visible_to(stmt, viewer, TopicPost)


class EventSearchKind(_ChildKind):
    name = "event"
    label = _l("Event")
    model = Event
    endpoint = "community.event"
    arg = "event_id"

    def _body(self, obj: Any) -> str:
        return f"{obj.place}\n{obj.body}"


def register_search_kinds() -> None:
    from app.search.audience import register_scope_terms
    from app.search.documents import register_kind

    register_kind(CommunitySearchKind())
    register_kind(TopicSearchKind())
    register_kind(TopicPostSearchKind())
    register_kind(EventSearchKind())
    register_scope_terms(scope_terms)
