"""The written allow/deny matrix: one declared policy for every endpoint in `app.url_map`.

security.md A20–A22. Deny by default: `test_route_policies.py` fails when an endpoint of the
app has no entry here, or when an entry names an endpoint that no longer exists. The access
matrix, the sweep and the mass-assignment tests are generated from these declarations.

HOW TO DECLARE AN ENDPOINT (one line in `POLICIES`, keyed by the endpoint name):

    "pkg.view": PUBLIC,                        anyone, guests included (no object in the URL)
    "pkg.view": MEMBER,                        logged-in members; guests are sent to the login page
    "pkg.view": role(RoleCode.MODERATOR),      holders of the role (and admins); other members get
                                               404, guests the login page
    "pkg.view": token("what it is"),           the URL carries a secret (mail link, card code);
                                               an unknown secret gives 404 or a refusal page
    "pkg.view": MONITOR,                       the survey monitor proven by a JPKI card in this
                                               session (not an SNS login)
    "pkg.view": signature("why"),              proven by a JPKI signature instead of a CSRF token;
                                               the only CSRF-exempt kind (A69), the reason is kept
    "pkg.view": STATIC,                        files shipped with the code
    "pkg.view": obj("diary", "diary_id"),      an object route: URL argument `diary_id` holds the
                                               id of a "diary"; outside visibility the answer is
                                               404 with the body of a missing id (A21)

`obj(kind, arg, rule=…, login=…, fixed=…)`:
  - `kind` names an object kind; the matrix test turns it into objects (its KINDS table says
    how to make one, at which visibility, and which attribute goes into the URL);
  - `arg` is the URL argument holding the object's id (or handle, key, token);
  - `rule` decides who gets through (see RULES below); default "can_view", the visibility
    module's `can_view(viewer, obj)` as the oracle;
  - `login=True` when guests are sent to the login page before any object check;
  - `fixed` gives values for the route's other URL arguments (e.g. {"action": "accept"}).

When you add a kind (community, topic, event…) add it to the KINDS table in
tests/security/matrix_world.py as data; a viewer relation (community member, community admin)
goes into its RELATIONS and VIEWERS tables; a new rule into RULES here and its oracle into
ORACLES in tests/security/test_access_matrix.py; a new form into FORMS in
tests/security/test_mass_assignment.py (valid data, and what the result must hold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.auth.models import RoleCode

# How an object route decides who gets through. Outside the rule: 404 (same body as missing).
RULES = {
    "can_view": "visible per the visibility module's can_view (the oracle)",
    "can_edit": "404 unless can_view; 403 unless can_edit (owner, or whom an edit rule adds)",
    "other_member": "can_view, and not the viewer themself (a thread with oneself is 404)",
    "friend": "can_view, and a friend of the member (introductions)",
    "friends_shown": "can_view, and the member's friend-list level reaches the viewer",
    "image": "a diary photo with its diary, a profile photo with the photo field's level",
    "owner": "only the object's owner; anybody else 404",
    "party": "only a party to the object (sender/recipient, author/subject); others 404",
    "guest_view": "only when a guest could see it (public feeds); otherwise 404 for everyone",
    "own_relation": "acts on the viewer's own row about the target; never shows the target",
    "survey_open": "a survey that is open for answers; drafts and unknown keys 404",
    "survey_published": "a survey whose results are published; otherwise 404 for everyone",
    "community_image": "an image of a community, topic or reply, seen with what it belongs to",
}

ACCESS = ("public", "member", "role", "token", "monitor", "signature", "static", "object")


@dataclass(frozen=True)
class Policy:
    access: str
    role: RoleCode | None = None
    kind: str | None = None
    arg: str | None = None
    rule: str | None = None
    login: bool = False
    fixed: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def __post_init__(self) -> None:
        assert self.access in ACCESS, self.access
        if self.access == "object":
            assert self.kind and self.arg and self.rule in RULES, self
        if self.access in ("signature", "token"):
            assert self.reason, self


PUBLIC = Policy("public")
MEMBER = Policy("member")
MONITOR = Policy("monitor")
STATIC = Policy("static")


def role(code: RoleCode) -> Policy:
    return Policy("role", role=code)


def token(reason: str) -> Policy:
    return Policy("token", reason=reason)


def signature(reason: str) -> Policy:
    return Policy("signature", reason=reason)


def obj(
    kind: str,
    arg: str,
    rule: str = "can_view",
    *,
    login: bool = False,
    fixed: dict[str, Any] | None = None,
) -> Policy:
    return Policy("object", kind=kind, arg=arg, rule=rule, login=login, fixed=fixed or {})


POLICIES: dict[str, Policy] = {
    "static": STATIC,
    # --- site ---------------------------------------------------------------------------------
    "site.home": PUBLIC,
    "site.healthz": PUBLIC,
    "site.set_language": PUBLIC,
    # --- accounts -----------------------------------------------------------------------------
    "auth.login": PUBLIC,
    "auth.logout": MEMBER,
    "auth.register": PUBLIC,
    "auth.forgot_password": PUBLIC,
    "auth.accept_invitation": token("invitation mailed by a member or moderator"),
    "auth.confirm_email": token("address confirmation link"),
    "auth.confirm_email_change": token("new-address confirmation link"),
    "auth.reset_password": token("password reset link"),
    "auth.settings": MEMBER,
    "auth.settings_delete": MEMBER,
    "auth.settings_email": MEMBER,
    "auth.settings_password": MEMBER,
    "auth.sessions": MEMBER,
    "auth.end_session": token("handle of one of the viewer's own sessions; others 404"),
    "auth.end_other_sessions": MEMBER,
    "auth.invitations": MEMBER,
    "auth.second_factor": MEMBER,  # members are sent on; privileged accounts pass a code (A08)
    "auth.second_factor_enrol": MEMBER,  # members are sent on; privileged accounts enrol (A08)
    # --- JPKI ---------------------------------------------------------------------------------
    "auth.jpki_login": PUBLIC,
    "auth.jpki_start": PUBLIC,
    "auth.jpki_wait": PUBLIC,
    "auth.jpki_poll": PUBLIC,
    "auth.jpki_complete": PUBLIC,
    "auth.jpki_unbound": PUBLIC,
    "auth.jpki_proxy_login": PUBLIC,
    "auth.jpki_bind": MEMBER,
    "auth.jpki_unbind": obj("jpki_binding", "binding_id", "owner", login=True),
    "auth.jpki_challenge": token("short code of a challenge shown to this browser"),
    "auth.jpki_response": signature(
        "the card's signature over this server's single-use challenge is the proof"
    ),
    # --- SNS: members, friends, blocks ----------------------------------------------------------
    "sns.members": MEMBER,
    "sns.profile": obj("member", "handle"),
    "sns.member_friends": obj("member", "handle", "friends_shown"),
    "sns.member_diary": obj("member", "handle"),
    "sns.member_feed": obj("member", "handle", "guest_view"),
    "sns.my_page": MEMBER,
    "sns.edit_profile": MEMBER,
    "sns.upload_avatar": MEMBER,
    "sns.delete_avatar": MEMBER,
    "sns.image": obj("image", "token", "image"),
    "sns.friends": MEMBER,
    "sns.friend_request": obj("member", "handle", login=True),
    "sns.friend_request_action": obj(
        "friend_request", "request_id", "party", login=True, fixed={"action": "cancel"}
    ),
    "sns.unfriend": obj("member", "handle", login=True),
    "sns.write_introduction": obj("member", "handle", "friend", login=True),
    "sns.introduction_action": obj(
        "introduction", "intro_id", "party", login=True, fixed={"action": "hide"}
    ),
    "sns.block": obj("member", "handle", login=True),
    "sns.blocks": MEMBER,
    "sns.unblock": obj("member_id", "user_id", "own_relation", login=True),
    # --- SNS: diaries, comments ------------------------------------------------------------------
    "sns.recent": PUBLIC,
    "sns.timeline": MEMBER,
    "sns.new_diary": MEMBER,
    "sns.diary": obj("diary", "diary_id"),
    "sns.edit_diary": obj("diary", "diary_id", "can_edit", login=True),
    "sns.delete_diary": obj("diary", "diary_id", "can_edit", login=True),
    "sns.trash": MEMBER,
    "sns.restore_diary": obj("diary", "diary_id", "owner", login=True),
    "sns.add_comment": obj("diary", "diary_id", login=True),
    "sns.delete_comment": obj("comment", "comment_id", "can_edit", login=True),
    # --- SNS: messages, footprints, notifications, settings ---
    "sns.inbox": MEMBER,
    "sns.sent": MEMBER,
    "sns.thread": obj("member", "handle", "other_member", login=True),
    "sns.delete_message": obj("message", "message_id", "party", login=True),
    "sns.footprints": MEMBER,
    "sns.notifications": MEMBER,
    "sns.notifications_read": MEMBER,
    "sns.settings": MEMBER,
    "sns.report": obj("diary", "object_id", login=True, fixed={"kind": "diary"}),
    "sns.report_received": MEMBER,
    # --- SNS: admin ---
    "sns.profile_fields": role(RoleCode.ADMIN),
    # --- moderation (NPO moderators); members' own pages: actions on their posts, warnings ---
    "moderation.dashboard": role(RoleCode.MODERATOR),
    "moderation.queue": role(RoleCode.MODERATOR),
    "moderation.report_detail": role(RoleCode.MODERATOR),
    "moderation.dismiss": role(RoleCode.MODERATOR),
    "moderation.content_action": role(RoleCode.MODERATOR),
    "moderation.member": role(RoleCode.MODERATOR),
    "moderation.member_action": role(RoleCode.MODERATOR),
    "moderation.log": role(RoleCode.MODERATOR),
    "moderation.appeals": role(RoleCode.MODERATOR),
    "moderation.close_appeal": role(RoleCode.MODERATOR),
    "moderation.invitations": role(RoleCode.MODERATOR),
    "moderation.revoke_invitation": role(RoleCode.MODERATOR),
    "moderation.word_filter": role(RoleCode.MODERATOR),
    "moderation.remove_filter_entry": role(RoleCode.MODERATOR),
    "moderation.set_preset": role(RoleCode.MODERATOR),
    "moderation.my_actions": MEMBER,
    # POST only; the service answers 404 unless the action concerns the member themself.
    "moderation.appeal": MEMBER,
    "moderation.warning": MEMBER,
    # --- communities, topics and events ---
    "community.index": MEMBER,
    "community.new_community": MEMBER,
    "community.community": obj("community", "community_id", login=True),
    "community.topics": obj("community", "community_id", login=True),
    "community.members": obj("community", "community_id", login=True),
    "community.edit_community": obj("community", "community_id", "can_edit", login=True),
    # Join: also open to an invited member of a secret community (the service checks).
    "community.join": obj("community", "community_id", login=True),
    "community.decline_invitation": obj("community", "community_id", login=True),
    "community.leave": obj("community", "community_id", login=True),
    "community.resubmit": obj("community", "community_id", login=True),
    "community.invite": obj("community", "community_id", login=True),
    "community.transfer": obj("community", "community_id", login=True),
    "community.join_request": obj(
        "community", "community_id", login=True, fixed={"action": "approve"}
    ),
    "community.member_action": obj(
        "community", "community_id", login=True, fixed={"action": "remove"}
    ),
    "community.new_topic": obj("community", "community_id", login=True),
    "community.new_event": obj("community", "community_id", login=True),
    "community.image": obj("community_image", "token", "community_image"),
    "community.topic": obj("topic", "topic_id", login=True),
    "community.reply": obj("topic", "topic_id", login=True),
    "community.edit_topic": obj("topic", "topic_id", "can_edit", login=True),
    "community.topic_action": obj("topic", "topic_id", login=True, fixed={"action": "follow"}),
    "community.edit_post": obj("topic_post", "post_id", "can_edit", login=True),
    "community.delete_post": obj("topic_post", "post_id", login=True),
    "community.event": obj("event", "event_id", login=True),
    "community.event_ics": obj("event", "event_id", login=True),
    "community.edit_event": obj("event", "event_id", "can_edit", login=True),
    "community.event_action": obj("event", "event_id", login=True, fixed={"action": "join"}),
    "community.moderation": role(RoleCode.MODERATOR),
    "community.moderation_approve": role(RoleCode.MODERATOR),
    "community.moderation_reject": role(RoleCode.MODERATOR),
    "community.moderation_edit": role(RoleCode.MODERATOR),
    # --- search ---
    "search.search_page": PUBLIC,
    "search.static": STATIC,
    # --- surveys: monitors (the public face) ---
    "survey.index": PUBLIC,
    "survey.register": PUBLIC,
    "survey.registered": PUBLIC,
    "survey.login": PUBLIC,
    "survey.jpki_done": PUBLIC,
    "survey.renew": PUBLIC,
    "survey.me": MONITOR,
    "survey.correct": MONITOR,
    "survey.consent": MONITOR,
    "survey.leave": MONITOR,
    "survey.personal_link": token("personal survey link mailed to one monitor"),
    "survey.unsubscribe": token("one-click unsubscribe link mailed to one monitor"),
    "survey.survey_list": PUBLIC,
    "survey.survey_intro": obj("survey", "key", "survey_open"),
    "survey.survey_jpki": obj("survey", "key", "survey_open"),
    "survey.survey_start": obj("survey", "key", "survey_open"),
    "survey.survey_page": obj("survey", "key", "survey_open", fixed={"page": 1}),
    "survey.survey_confirm": obj("survey", "key", "survey_open"),
    "survey.survey_submit": obj("survey", "key", "survey_open"),
    "survey.survey_receipt": obj("survey", "key", "survey_open"),
    "survey.published_results": obj("survey", "key", "survey_published"),
    "survey.sns_settings": MEMBER,
    # --- surveys: staff (the internal face) ---
    "survey_admin.survey_index": role(RoleCode.STAFF),
    "survey_admin.survey_new": role(RoleCode.STAFF),
    "survey_admin.survey_edit": role(RoleCode.STAFF),
    "survey_admin.question_add": role(RoleCode.STAFF),
    "survey_admin.question_action": role(RoleCode.STAFF),
    "survey_admin.survey_preview": role(RoleCode.STAFF),
    "survey_admin.survey_copy": role(RoleCode.STAFF),
    "survey_admin.survey_sample": role(RoleCode.STAFF),
    "survey_admin.survey_announce": role(RoleCode.STAFF),
    "survey_admin.survey_publish": role(RoleCode.STAFF),
    "survey_admin.staff_results": role(RoleCode.STAFF),
    "survey_admin.export_results": role(RoleCode.STAFF),
    "survey_admin.review_texts": role(RoleCode.STAFF),
    "survey_admin.export_raw": role(RoleCode.ADMIN),
    "survey_staff.monitor_list": role(RoleCode.STAFF),
    "survey_staff.monitor_record": role(RoleCode.STAFF),
    "survey_staff.export": role(RoleCode.STAFF),
    "survey_staff.relink": role(RoleCode.STAFF),
    # --- personal-data vault ---
    "privacy.audit_log": role(RoleCode.STAFF),
    "privacy.projects": role(RoleCode.STAFF),
    "privacy.purge": role(RoleCode.ADMIN),
    "privacy.purposes": role(RoleCode.STAFF),
    "privacy.purpose_new": role(RoleCode.STAFF),
    # Re-linking a renewed card: the page acts only for a card verified in this session (else
    # it asks for the card login); the signing-certificate proof is checked before sealing.
    "privacy_proofs.renew": PUBLIC,
    "privacy_proofs.renewed": PUBLIC,
    "privacy_proofs.verified_registration": PUBLIC,
    # --- announcements and site pages ---
    "notices.announcement_list": PUBLIC,
    "notices.announcement_feed": PUBLIC,
    "notices.announcement_detail": obj("announcement", "item_id"),
    # Survey staff *and* moderators (one role does not say it): members get 404, guests the
    # login page (tests/notices/test_announcements.py).
    "notices.announcement_manage": MEMBER,
    "notices.announcement_new": MEMBER,
    "notices.announcement_edit": MEMBER,
    "notices.announcement_withdraw": MEMBER,
    "notices.site_page": PUBLIC,
    "notices.page_admin": role(RoleCode.ADMIN),
    "notices.page_edit": role(RoleCode.ADMIN),
    "notices.page_history": role(RoleCode.ADMIN),
    "notices.terms_accept": MEMBER,
    "notices.terms_decline": MEMBER,
}


def policy_for(endpoint: str) -> Policy | None:
    return POLICIES.get(endpoint)
