"""Demo data: version 1 of each site page (plain, short Japanese for a municipal pilot) and two
announcements. Idempotent: a page that already has a version is left alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.auth.models import RoleCode, User
from app.extensions import db
from app.notices.models import Announcement, PageKind, TermsAcceptance

PAGES: dict[PageKind, tuple[str, str]] = {
    PageKind.TERMS: (
        "利用規約",
        """### この規約について
この規約は、みどり市の住民参加サイト「参画」（以下「本サイト」）の使い方を定めるものです。本サイトは試行事業として、みどり市とNPOみどりネットが運営します。

### 利用できる人
- 市内に住む人、通勤・通学する人で、招待を受けて登録した人
- 一人ひとつのアカウントを使ってください

### 守ってほしいこと
- 他の人の悪口、差別、嫌がらせになる書き込みをしないでください
- 他の人の住所や電話番号など、個人の情報を書き込まないでください
- 商売の宣伝や、選挙運動に使わないでください

### 運営者ができること
規約やコミュニティの約束に反する書き込みは、運営者が非表示にすることがあります。くり返し反する場合は、利用を止めることがあります。

### 規約の変更
規約を変えたときは、次にログインしたときにお知らせし、同意をお願いします。

### 問い合わせ
みどり市 市民協働課、またはNPOみどりネットまでご連絡ください。""",
    ),
    PageKind.PRIVACY: (
        "個人情報の取り扱い（プライバシーポリシー）",
        """### 集める情報
- SNSの登録：メールアドレス、ニックネーム、パスワード（暗号化して保存します）
- 調査モニターの登録：氏名、住所、生年月日など（別のデータベースで暗号化して保管します）

### 使う目的
集めた情報は、登録のときに示した目的にだけ使います。目的ごとに、使える項目を決めています。

### 見られる人
個人情報を見られるのは、目的ごとに決められた市の担当者だけです。見た記録はすべて残り、あとから確かめられます。

### 調査の回答
調査の回答は、だれが答えたかと切り離して保存します。結果は人数の少ない集計を出さないようにして公開します。

### 保管の期間
試行事業が終わったら、調査モニターの個人情報は消去します。

### 問い合わせ・訂正
自分の情報の確認や訂正、登録の取り消しは、サイトの「調査モニター」のページか、市民協働課で受け付けます。""",
    ),
    PageKind.GUIDELINES: (
        "コミュニティの約束",
        """### みんなが気持ちよく使うために
- あいさつと、ていねいな言葉を心がけましょう
- 意見がちがっても、相手の人がらを責めないようにしましょう
- 写真に他の人が写っているときは、その人の了解をとりましょう
- 自分や他の人の住所、電話番号は書かないようにしましょう

### 困ったときは
気になる書き込みを見つけたら、書き込みの「報告」ボタンで運営者に知らせてください。報告した人の名前は、書いた人には伝わりません。""",
    ),
}

ANNOUNCEMENTS = [
    (
        "「参画」の試行を始めました",
        "みどり市の住民参加サイト「参画」の試行を始めました。\n\n"
        "地域の話題の共有、コミュニティ活動、市のアンケートへの回答にご利用ください。"
        "使い方で分からないことは、NPOみどりネットまでお気軽にお問い合わせください。",
        "public",
        30,
    ),
    (
        "市民アンケートのモニター募集",
        "市の施策についてのアンケートに答えていただくモニターを募集しています。\n\n"
        "- 登録には、マイナンバーカードを使った本人確認が必要です\n"
        "- 回答は、だれが答えたかと切り離して集計します\n\n"
        "詳しくは「調査モニター」のページをご覧ください。",
        "members",
        None,
    ),
]


def build_notices_demo(members: dict[str, User]) -> None:
    """Seed version 1 of each page; existing members accept the seeded terms (they registered
    under them); two announcements by the demo staff member."""
    from app.notices.services import accept_terms, current_page, save_page, today_jst

    terms = None
    for kind, (title, body) in PAGES.items():
        page = current_page(kind)
        if page is None:
            page = save_page(None, kind, title=title, body=body, note="初版")
        if kind is PageKind.TERMS:
            terms = page
    if terms is not None and terms.version == 1:
        accepted = set(
            db.session.execute(
                select(TermsAcceptance.user_id).where(TermsAcceptance.version_id == terms.id)
            ).scalars()
        )
        for user in db.session.execute(select(User)).scalars():
            if user.id not in accepted:
                accept_terms(user, terms)
    staff = next((u for u in members.values() if u.has_role(RoleCode.STAFF)), None)
    if staff is None:
        return
    existing = set(db.session.execute(select(Announcement.title)).scalars())
    for title, body, audience, pin_days in ANNOUNCEMENTS:
        if title in existing:
            continue
        pinned = today_jst() + dt.timedelta(days=pin_days) if pin_days else None
        db.session.add(
            Announcement(
                author_id=staff.id, title=title, body=body, audience=audience, pinned_until=pinned
            )
        )
    db.session.flush()


def register_sample_hooks() -> None:
    """Add the demo step (idempotent)."""
    from app.sample import demo

    if build_notices_demo not in demo.DEMO_STEPS:
        demo.DEMO_STEPS.append(build_notices_demo)
