"""The music prompt of a plan: what `--music` asks the text-to-music model for when the user gives no prompt.

The offline planner writes it from the idea's mood words (a rule per mood: its instruments and feel); an LLM backend
writes it as one more field of its reply (`"music"`), cleaned like the frame prompts; a reply without one gets the
rule's prompt.
"""
from __future__ import annotations

import re
from typing import Any

#: Mood words of an idea -> the instruments and feel of its music (the first rule whose words the idea holds wins).
MOODS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("night", "moon", "stars", "starry", "firefl", "lantern", "dusk", "twilight"),
     "slow dreamy music box and soft strings, quiet and tender"),
    (("rain", "storm", "thunder", "fog", "mist"), "gentle piano with harp and soft cello, wistful"),
    (("sea", "ocean", "harbour", "harbor", "beach", "wave", "boat", "island", "coast"),
     "flowing strings and accordion, a breezy seaside waltz"),
    (("festival", "market", "town", "city", "street", "bakery", "train", "station"),
     "playful accordion, pizzicato strings and clarinet, lively and warm"),
    (("snow", "winter", "ice", "frost"), "celesta and soft strings, quiet and sparkling"),
    (("sky", "flight", "fly", "flying", "airship", "clouds", "wind", "kite"),
     "soaring strings and french horn, uplifting and free"),
    (("spirit", "magic", "witch", "castle", "dragon", "shrine", "temple"),
     "mysterious woodwinds, harp and choir pads, enchanted"),
    (("forest", "woods", "tree", "meadow", "field", "garden", "dawn", "morning", "spring", "river"),
     "gentle flute and piano with warm strings, hopeful"),
)
DEFAULT_MOOD = "gentle piano and warm strings, nostalgic"
STYLE = "orchestral film score in the style of a Studio Ghibli soundtrack, hand-played, slow tempo, no vocals, loopable"
#: Keys a reply may hold the music prompt under.
MUSIC_FIELDS = ("music", "music_prompt", "soundtrack", "score", "audio", "song")
MAX_WORDS = 40


def music_prompt(idea: str) -> str:
    """The rule-based music prompt for `idea` (the same idea always gets the same prompt)."""
    words = re.findall(r"[a-z]+", idea.lower())
    mood = next((feel for keys, feel in MOODS if any(w.startswith(keys) for w in words)), DEFAULT_MOOD)
    return f"{mood}, {STYLE}"


def plan_music(plan: Any) -> str:
    """A plan's music prompt: its own, or the rules' for its idea (plans made before plans had one)."""
    return plan.music or music_prompt(plan.idea)


def clean_music(text: Any) -> str | None:
    """A reply's music prompt cleaned (one line, no quotes or labels, at most MAX_WORDS words); None if it holds none."""
    if not isinstance(text, str):
        return None
    text = re.sub(r"^\s*(music|soundtrack|score)\s*(prompt)?\s*[:\-–—]\s*", "", text.strip(), flags=re.I)
    words = text.replace('"', " ").replace("`", " ").split()
    return " ".join(words[:MAX_WORDS]).rstrip(" ,;") or None


def music_from_reply(obj: Any) -> str | None:
    """The music prompt a parsed reply holds at its top level (an object's `music` field, or a similar key)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if str(key).lower() in MUSIC_FIELDS:
                return clean_music(value)
    return None
