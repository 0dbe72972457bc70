"""Stable reason codes of the JPKI verifier and their human texts (Japanese and English).

The codes are an interface: the web login, `flask jpki verify`, the card client and the
operations guide all use them, so they never change meaning. Each text exists in Japanese and
English here, in one place; the web layer may pass the English text through its translation
function, but these pairs are the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["REASON_TEXTS", "Reason", "Text", "reason_text"]


@dataclass(frozen=True, slots=True)
class Text:
    """A user-facing message in Japanese and English."""

    ja: str
    en: str

    def bilingual(self) -> str:
        """Both languages on one line, Japanese first (the card client prints this)."""
        return f"{self.ja} / {self.en}"

    def for_locale(self, locale: str | None) -> str:
        """The text for a locale such as ``"ja"``, ``"ja_JP"`` or ``"en"``; Japanese by default."""
        if locale and locale.lower().startswith("en"):
            return self.en
        return self.ja

    def __str__(self) -> str:
        return self.bilingual()


class Reason(StrEnum):
    """Why a certificate, signature or challenge was refused."""

    MALFORMED = "malformed"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_USAGE = "wrong_usage"
    WRONG_PURPOSE = "wrong_purpose"
    WRONG_POLICY = "wrong_policy"
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"
    BAD_SIGNATURE = "bad_signature"
    CHALLENGE_UNKNOWN = "challenge_unknown"
    CHALLENGE_EXPIRED = "challenge_expired"
    CHALLENGE_USED = "challenge_used"


REASON_TEXTS: dict[Reason, Text] = {
    Reason.MALFORMED: Text(
        "証明書のデータが正しくありません。カードを挿し直して、もう一度お試しください。",
        "The certificate data is malformed. Re-insert the card and try again.",
    ),
    Reason.UNTRUSTED_ISSUER: Text(
        "信頼できる公的個人認証サービスの認証局が発行した証明書ではありません。",
        "The certificate was not issued by a trusted JPKI certification authority.",
    ),
    Reason.EXPIRED: Text(
        "電子証明書の有効期限が切れています。お住まいの市区町村の窓口で更新してください。",
        "The certificate has expired. Renew it at your municipal office.",
    ),
    Reason.NOT_YET_VALID: Text(
        "電子証明書はまだ有効になっていません。",
        "The certificate is not valid yet.",
    ),
    Reason.WRONG_USAGE: Text(
        "この電子証明書の鍵はこの操作に使えません。",
        "The certificate's key usage does not allow this operation.",
    ),
    Reason.WRONG_PURPOSE: Text(
        "電子証明書の種類が違います。ログインには利用者証明用電子証明書（暗証番号4桁）を使います。",
        "Wrong kind of certificate: log in with the user authentication certificate "
        "(4-digit PIN), not the signing certificate.",
    ),
    Reason.WRONG_POLICY: Text(
        "この電子証明書の証明書ポリシーは受け付けていません。",
        "The certificate policy of this certificate is not accepted.",
    ),
    Reason.REVOKED: Text(
        "この電子証明書は失効しています。お住まいの市区町村の窓口にご相談ください。",
        "This certificate has been revoked. Please contact your municipal office.",
    ),
    Reason.REVOCATION_UNKNOWN: Text(
        "電子証明書の失効状況を現在確認できません。しばらくしてからもう一度お試しください。",
        "The revocation status of the certificate cannot be checked right now. "
        "Please try again later.",
    ),
    Reason.BAD_SIGNATURE: Text(
        "署名を確認できませんでした。もう一度お試しください。",
        "The signature could not be verified. Please try again.",
    ),
    Reason.CHALLENGE_UNKNOWN: Text(
        "ログイン用のコードが見つかりません。ログイン画面を開き直してください。",
        "The login code is unknown. Reload the login page.",
    ),
    Reason.CHALLENGE_EXPIRED: Text(
        "ログイン用のコードの有効期限が切れました。ログイン画面を開き直してください。",
        "The login code has expired. Reload the login page.",
    ),
    Reason.CHALLENGE_USED: Text(
        "このログイン用のコードは既に使われています。ログイン画面を開き直してください。",
        "This login code has already been used. Reload the login page.",
    ),
}


def reason_text(code: str) -> Text:
    """Return the human text for a reason code; unknown codes get a generic refusal text."""
    try:
        return REASON_TEXTS[Reason(code)]
    except ValueError:
        return Text(
            "認証できませんでした（" + code + "）。", "Authentication failed (" + code + ")."
        )
