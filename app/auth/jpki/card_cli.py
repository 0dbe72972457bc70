"""``sankaku-card``: the card client as a standalone command (no Flask application needed).

Same code as ``flask jpki card …``: ``sankaku-card login URL CODE``, ``sankaku-card status``,
``sankaku-card read-cert --kind auth|sign --out FILE``.
"""

from __future__ import annotations

from .card_commands import card_group

__all__ = ["main"]


def main() -> None:
    """Run the card command group under the name ``sankaku-card``."""
    card_group.main(prog_name="sankaku-card")


if __name__ == "__main__":
    main()
