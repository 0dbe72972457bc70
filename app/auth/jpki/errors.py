"""Errors of the card client and the login client, each with a one-line Japanese/English text.

The card client prints ``error.text.bilingual()`` and exits non-zero; nothing else is shown to
the resident, so each text says what happened and what to do.
"""

# The class names (NoPcscd, WrongPin, PinBlocked, …) are a published contract of the card client,
# so they keep their short names instead of an "Error" suffix.
# ruff: noqa: N818

from __future__ import annotations

from typing import ClassVar, Literal

from .reasons import Text, reason_text

__all__ = [
    "ApduError",
    "CardProtocolError",
    "CardRemoved",
    "CertificateNotFound",
    "InsecureUrl",
    "InvalidPinFormat",
    "JpkiCardError",
    "JpkiClientError",
    "LoginAborted",
    "NetworkError",
    "NoCard",
    "NoPcscd",
    "NoReader",
    "NotJpkiCard",
    "OriginMismatch",
    "PinBlocked",
    "SecurityStatusNotSatisfied",
    "ServerRefused",
    "WrongPin",
]

PinKind = Literal["auth", "sign"]


class JpkiClientError(Exception):
    """Base of every error the card client reports to the resident."""

    code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    default_text: ClassVar[Text] = Text("エラーが発生しました。", "An error occurred.")

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.default_text.en)
        self.detail = detail

    @property
    def text(self) -> Text:
        """The resident-facing message."""
        return self.default_text


class JpkiCardError(JpkiClientError):
    """Something between the computer and the card went wrong."""

    code = "card_error"
    exit_code = 3
    default_text = Text(
        "カードとの通信に失敗しました。カードを置き直してください。",
        "Communication with the card failed. Place the card on the reader again.",
    )


class NoPcscd(JpkiCardError):
    """The PC/SC service (pcscd) is not running."""

    code = "no_pcscd"
    default_text = Text(
        "カードリーダーのサービス（pcscd）が動いていません。起動してからやり直してください。",
        "The smart-card service (pcscd) is not running. Start it and try again.",
    )


class NoReader(JpkiCardError):
    """No card reader is connected (or the named one is not there)."""

    code = "no_reader"
    default_text = Text(
        "カードリーダーが見つかりません。接続を確認してください。",
        "No card reader found. Check that it is connected.",
    )


class NoCard(JpkiCardError):
    """A reader is there but holds no card."""

    code = "no_card"
    default_text = Text(
        "マイナンバーカードが見つかりません。カードをリーダーに置いてください。",
        "No card found. Place your My Number Card on the reader.",
    )


class NotJpkiCard(JpkiCardError):
    """The card does not answer the JPKI application (another card, or a Juki card)."""

    code = "not_jpki_card"
    default_text = Text(
        "マイナンバーカード（公的個人認証）として読み取れません。カードを確認してください。",
        "This card has no JPKI application. Use your My Number Card.",
    )


class CardRemoved(JpkiCardError):
    """The card was removed or reset while in use."""

    code = "card_removed"
    default_text = Text(
        "処理中にカードが離れました。カードを置いたまま、もう一度お試しください。",
        "The card was removed during the operation. Keep it on the reader and try again.",
    )


class WrongPin(JpkiCardError):
    """The card refused the PIN or password; ``tries_left`` more attempts before blocking."""

    code = "wrong_pin"
    exit_code = 4

    def __init__(self, tries_left: int, kind: PinKind = "auth") -> None:
        super().__init__(f"wrong {'PIN' if kind == 'auth' else 'password'}, {tries_left} left")
        self.tries_left = tries_left
        self.kind = kind

    @property
    def text(self) -> Text:
        """Message naming the remaining tries."""
        if self.kind == "auth":
            return Text(
                f"暗証番号が違います。残り{self.tries_left}回間違えるとロックされます。",
                f"Wrong PIN. {self.tries_left} tries left before the PIN is blocked.",
            )
        return Text(
            f"署名用パスワードが違います。残り{self.tries_left}回間違えるとロックされます。",
            f"Wrong signing password. {self.tries_left} tries left before it is blocked.",
        )


class PinBlocked(JpkiCardError):
    """The PIN or password is blocked; only the municipal office can unblock it."""

    code = "pin_blocked"
    exit_code = 4

    def __init__(self, kind: PinKind = "auth") -> None:
        super().__init__(f"{'PIN' if kind == 'auth' else 'password'} blocked")
        self.kind = kind

    @property
    def text(self) -> Text:
        """Message saying where to go."""
        if self.kind == "auth":
            return Text(
                "暗証番号がロックされています。お住まいの市区町村の窓口で解除してください。",
                "PIN blocked: visit your municipal office to unblock it.",
            )
        return Text(
            "署名用パスワードがロックされています。市区町村の窓口"
            "（またはコンビニのキオスク端末）で初期化してください。",
            "Signing password blocked: reset it at your municipal office "
            "(or a convenience-store kiosk).",
        )


class SecurityStatusNotSatisfied(JpkiCardError):
    """The card wants a PIN or password first (SW 69 82)."""

    code = "security_status"
    default_text = Text(
        "暗証番号（パスワード）の入力が必要です。",
        "The card needs the PIN or password first.",
    )


class CertificateNotFound(JpkiCardError):
    """The certificate file is not on the card (SW 6A 82), e.g. no signing certificate."""

    code = "certificate_not_found"
    default_text = Text(
        "カードにこの電子証明書がありません。",
        "This certificate is not on the card.",
    )


class CardProtocolError(JpkiCardError):
    """The card answered something a JPKI card should not (bad length, unexpected SW)."""

    code = "card_protocol"
    default_text = Text(
        "カードから想定外の応答がありました。カードを置き直してください。",
        "The card gave an unexpected answer. Place it on the reader again.",
    )


class ApduError(CardProtocolError):
    """Bytes that are not a valid (short) APDU."""

    code = "bad_apdu"


class InvalidPinFormat(JpkiClientError):
    """The PIN or password typed does not have the card's format (checked before sending)."""

    code = "invalid_pin_format"

    def __init__(self, kind: PinKind = "auth") -> None:
        super().__init__("invalid PIN format")
        self.kind = kind

    @property
    def text(self) -> Text:
        """Message stating the expected format."""
        if self.kind == "auth":
            return Text("暗証番号は数字4桁です。", "The PIN is 4 digits.")
        return Text(
            "署名用パスワードは英大文字と数字の6〜16文字です。",
            "The signing password is 6 to 16 letters A-Z and digits.",
        )


class LoginAborted(JpkiClientError):
    """The resident declined at the confirmation prompt."""

    code = "aborted"
    default_text = Text("ログインを中止しました。", "Login cancelled.")


class OriginMismatch(JpkiClientError):
    """The server named another site than the URL the resident typed."""

    code = "origin_mismatch"

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"origin {got!r} does not match {expected!r}")
        self.expected = expected
        self.got = got

    @property
    def text(self) -> Text:
        """Message naming both origins."""
        return Text(
            f"接続先（{self.expected}）と異なるサイト（{self.got}）の要求です。中止しました。",
            f"The challenge names another site ({self.got}) than {self.expected}: refused.",
        )


class InsecureUrl(JpkiClientError):
    """An http:// URL for a site that is not on this computer."""

    code = "insecure_url"
    default_text = Text(
        "https:// で始まるアドレスを指定してください（http:// はこのパソコン内の試験用のみ）。",
        "Use an https:// address (http:// only for a test server on this computer).",
    )


class NetworkError(JpkiClientError):
    """The server could not be reached or answered something unreadable."""

    code = "network_error"
    exit_code = 5
    default_text = Text(
        "サーバーに接続できませんでした。通信環境を確認して、もう一度お試しください。",
        "Could not reach the server. Check your connection and try again.",
    )


class ServerRefused(JpkiClientError):
    """The server refused the login with a reason code."""

    code = "server_refused"

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"server refused: {reason}")
        self.reason = reason
        self.message = message

    @property
    def text(self) -> Text:
        """Our own text for the server's reason code."""
        return reason_text(self.reason)
