"""Write docs/settings.md's tables from the settings table (ghibli_core/registry.py). A test fails when the page is
not what this script writes, so the reference cannot drift from the code.

    python scripts/write_settings_doc.py
"""
from __future__ import annotations

from pathlib import Path

from ghibli_core.registry import markdown_table

PAGE = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
BEGIN, END = "<!-- settings table: written by scripts/write_settings_doc.py -->", "<!-- end of settings table -->"

INTRO = """# Settings

Every painting, motion and camera setting, defined once in `ghibli_core/registry.py`: the command line's flags, the
jobs file's fields (by the setting's name), the ComfyUI widgets and this page are made from that table or checked
against it. Settings marked *preset* are set by `--preset` (quality / balanced / fast) unless given explicitly.
Older names still read: `color_match` in a jobs file and `--color-match` on the main command are `color_coherence`.

"""


def page() -> str:
    return f"{INTRO}{BEGIN}\n{markdown_table()}{END}\n"


if __name__ == "__main__":
    PAGE.write_text(page(), encoding="utf-8")
    print(f"wrote {PAGE}")
