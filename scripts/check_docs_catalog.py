"""Fail when the Chinese docs catalog lags behind the pages.

Compares the message templates that ``sphinx-build -b gettext`` just made
from the current pages (one ``.pot`` per page) with the translations in
``docs/locale/zh_CN/LC_MESSAGES`` (one ``.po`` per page) and lists every
message that is missing from a catalog, untranslated or fuzzy. ``--stats``
prints translated / total per page and exits 0 (for translators).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po


def check(pot_dir: Path, po_dir: Path) -> tuple[list[str], list[str]]:
    """Return (problems, per-page "page: translated/total" lines)."""
    problems: list[str] = []
    stats: list[str] = []
    for pot_path in sorted(pot_dir.rglob("*.pot")):
        page = pot_path.relative_to(pot_dir).with_suffix("")
        with pot_path.open("rb") as f:
            wanted = [m.id for m in read_po(f) if m.id]
        po_path = po_dir / page.with_suffix(".po")
        if not po_path.exists():
            problems.append(f"{po_path}: missing ({len(wanted)} messages)")
            stats.append(f"{page}: 0/{len(wanted)}")
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f)
        done = 0
        for msgid in wanted:
            message = catalog.get(msgid)
            first_line = str(msgid).splitlines()[0][:70]
            if message is None:
                problems.append(f"{po_path}: not in the catalog: {first_line!r}")
            elif message.fuzzy:
                problems.append(f"{po_path}: fuzzy: {first_line!r}")
            elif not message.string:
                problems.append(f"{po_path}: untranslated: {first_line!r}")
            else:
                done += 1
        stats.append(f"{page}: {done}/{len(wanted)}")
    return problems, stats


def main(argv: list[str]) -> int:
    pot_dir, po_dir = Path(argv[1]), Path(argv[2])
    problems, stats = check(pot_dir, po_dir)
    if "--stats" in argv:
        print("\n".join(stats))
        return 0
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(
            f"{len(problems)} message(s) of the Chinese docs need translating; "
            "run scripts/docs.sh update, translate docs/locale/zh_CN/LC_MESSAGES/*.po "
            "(clear the fuzzy flags), then scripts/docs.sh",
            file=sys.stderr,
        )
        return 1
    if not stats:
        print(f"no message templates in {pot_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
