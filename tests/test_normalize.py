"""The reply normaliser: any reply -> exactly N distinct, non-empty, Ghibli-styled, CLIP-length frames."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from ghibli_core.plan.normalize import CLIP_MAX_TOKENS, normalize_reply, token_count

IDEA = "a ghibli forest with flickering sunlight"
A, B, C, D = "misty pines at dawn", "sunbeams through the leaves", "a fox crossing the clearing", "fireflies at dusk"

# (reply, the scene words expected to survive in order; [] = nothing usable, fall back to the offline plan)
CORPUS = [
    (f'["{A}", "{B}", "{C}", "{D}"]', [A, B, C, D]),
    (f"['{A}', '{B}', '{C}', '{D}']", [A, B, C, D]),
    (f'```json\n["{A}", "{B}", "{C}", "{D}"]\n```', [A, B, C, D]),
    (f'```python\nframes = ["{A}", "{B}", "{C}", "{D}"]\n```', [A, B, C, D]),
    (f'frames = ["{A}", "{B}", "{C}", "{D}"]', [A, B, C, D]),
    (f'Here you go:\n```\n["{A}", "{B}", "{C}", "{D}"]\n```\nEnjoy!', [A, B, C, D]),
    (f'{{"frames": ["{A}", "{B}", "{C}", "{D}"]}}', [A, B, C, D]),
    (f'{{"prompts": ["{A}", "{B}", "{C}", "{D}"], "style": "ghibli"}}', [A, B, C, D]),
    (f'{{"result": {{"scenes": ["{A}", "{B}", "{C}", "{D}"]}}}}', [A, B, C, D]),
    (f'[{{"frame": 1, "prompt": "{A}"}}, {{"frame": 2, "prompt": "{B}"}}, {{"frame": 3, "prompt": "{C}"}}, {{"frame": 4, "prompt": "{D}"}}]', [A, B, C, D]),
    (f'[{{"id": 1, "description": "{A}"}}, {{"id": 2, "description": "{B}"}}, {{"id": 3, "description": "{C}"}}, {{"id": 4, "description": "{D}"}}]', [A, B, C, D]),
    (f'{{"frame_1": "{A}", "frame_2": "{B}", "frame_3": "{C}", "frame_4": "{D}"}}', [A, B, C, D]),
    (f"1. {A}\n2. {B}\n3. {C}\n4. {D}", [A, B, C, D]),
    (f"1) {A}\n2) {B}\n3) {C}\n4) {D}", [A, B, C, D]),
    (f"- {A}\n- {B}\n- {C}\n- {D}", [A, B, C, D]),
    (f"* {A}\n* {B}\n* {C}\n* {D}", [A, B, C, D]),
    (f"• {A}\n• {B}\n• {C}\n• {D}", [A, B, C, D]),
    (f"Frame 1: {A}\nFrame 2: {B}\nFrame 3: {C}\nFrame 4: {D}", [A, B, C, D]),
    (f"Step 1 - {A}\nStep 2 - {B}\nStep 3 - {C}\nStep 4 - {D}", [A, B, C, D]),
    (f"**Frame 1:** {A}\n**Frame 2:** {B}\n**Frame 3:** {C}\n**Frame 4:** {D}", [A, B, C, D]),
    (f"1. **{A}**\n2. **{B}**\n3. **{C}**\n4. **{D}**", [A, B, C, D]),
    (f"Scene 1. {A}\nScene 2. {B}\nScene 3. {C}\nScene 4. {D}", [A, B, C, D]),
    (f"Sure! Here are 4 frames:\n\n1. {A}\n2. {B}\n3. {C}\n4. {D}\n\nLet me know if you want changes.", [A, B, C, D]),
    (f"“{A}”, “{B}”, “{C}”, “{D}”", [A, B, C, D]),
    (f"[“{A}”, “{B}”, “{C}”, “{D}”]", [A, B, C, D]),
    (f"<|im_start|>assistant\n[\"{A}\", \"{B}\", \"{C}\", \"{D}\"]<|im_end|>", [A, B, C, D]),
    (f"<s>[INST] plan it [/INST] [\"{A}\", \"{B}\", \"{C}\", \"{D}\"]</s>", [A, B, C, D]),
    (f"<think>the user wants four frames...</think>\n[\"{A}\", \"{B}\", \"{C}\", \"{D}\"]", [A, B, C, D]),
    (f"<start_of_turn>model\n1. {A}\n2. {B}\n3. {C}\n4. {D}<end_of_turn>", [A, B, C, D]),
    (f"{A}\n{B}\n{C}\n{D}", [A, B, C, D]),
    (f"{A}. {B}. {C}. {D}.", [A, B, C, D]),
    (f'["{A}", "{B}", "{C}", "{D}", "{A} again", "{B} again", "{C} again", "{D} again"]', [A, C, B + " again", D + " again"]),
    (f'["{A}", "{B}"]', [A, B]),
    (f'["{A}", "{B}", "{C}', [A, B, C]),  # truncated mid-string
    (f'["{A}", "{B}",', [A, B]),  # truncated after a comma
    (f'["{A}", "{A}", "{A}", "{A}"]', [A, A, A, A]),  # duplicates: made distinct below
    ("", []),
    ("   \n\t ", []),
    ("I'm sorry, but I can't help with that request.", []),
    ("As an AI, I cannot create images.", []),
    ("[]", []),
    ("{}", []),
    ("null", []),
    ('["", "", "", ""]', []),
    ("[1, 2, 3, 4]", []),
    ("```\n```", []),
    # headings over their own paragraphs; a heading's short title names the frame
    (f"Frame 1:\n{A}\n\nFrame 2:\n{B}\n\nFrame 3:\n{C}\n\nFrame 4:\n{D}\n\nHope this helps!", [A, B, C, D]),
    (f"### Scene 1 - Dawn\n{A}.\n\n### Scene 2 - Noon\n{B}.\n\n### Scene 3\n{C}.\n\n### Scene 4\n{D}.",
     [f"Dawn: {A}", f"Noon: {B}", C, D]),
    (f"1. {A}, seen from a mossy\n   ridge above the valley\n2. {B}\n   in a quiet glade\n3. {C}\n   at noon\n4. {D}\n   by the pond",
     [f"{A}, seen from a mossy ridge", f"{B}: in a quiet glade", f"{C}: at noon", f"{D}: by the pond"]),
    # YAML and Markdown tables, as chat models also answer
    (f"- prompt: {A}\n  camera: push-in\n- prompt: {B}\n  camera: pan-left\n- prompt: {C}\n- prompt: {D}", [A, B, C, D]),
    (f"```yaml\nframes:\n  - {A}\n  - {B}\n  - {C}\n  - {D}\n```", [A, B, C, D]),
    (f"| # | Prompt | Camera |\n|---|---|---|\n| 1 | {A} | push-in |\n| 2 | {B} | pan left |\n| 3 | {C} | static |\n"
     f"| 4 | {D} | zoom out |", [A, B, C, D]),
    (f"**Frame 1:** {A} *(camera: push-in)*\n**Frame 2:** {B} [Camera movement: slow pan left]\n"
     f"**Frame 3:** {C} - Camera: orbit right.\n**Frame 4:** {D}", [A, B, C, D]),
]


@pytest.mark.parametrize("reply,expected", CORPUS, ids=[f"shape{i:02d}" for i in range(len(CORPUS))])
def test_reply_shapes(reply, expected):
    plan = normalize_reply(reply, IDEA, 4, backend="openai")
    assert len(plan.frames) == 4 and len({f.lower() for f in plan.frames}) == 4
    assert all(f.strip() and "ghibli" in f.lower() for f in plan.frames)
    assert all(token_count(f) <= CLIP_MAX_TOKENS for f in plan.frames)
    for frame, words in zip(plan.frames, expected):
        assert frame.lower().startswith(words.lower()), (frame, words)
    if not expected:
        assert plan.frames[0].startswith(IDEA) and "offline plan" in " ".join(plan.warnings)
    if 0 < len(expected) < 4:
        assert any("completed from the offline plan" in w for w in plan.warnings)
    assert plan.backend == "openai"


@pytest.mark.parametrize("reply,moves", [
    (CORPUS[-4][0], ["push-in", "pan-left"]),  # YAML
    (CORPUS[-2][0], ["push-in", "pan-left", "static", "pull-back"]),  # a Markdown table
    (CORPUS[-1][0], ["push-in", "pan-left:0.5", "orbit-right"]),  # named inline
], ids=["yaml", "table", "inline"])
def test_the_moves_a_reply_names_in_other_shapes_are_read(reply, moves):
    plan = normalize_reply(reply, IDEA, 4)
    assert plan.camera[:len(moves)] == moves, plan.camera
    assert not any("camera" in f.lower() or "*" in f or "(" in f for f in plan.frames), plan.frames


def test_the_word_camera_in_a_prompt_is_not_taken_for_a_move():
    plan = normalize_reply("1. a vintage camera: brass and leather, on a desk\n2. a river at dusk (camera: pan left)", IDEA, 2)
    assert plan.frames[0].startswith("a vintage camera: brass and leather, on a desk") and plan.camera[1] == "pan-left"
    assert not any("read as" in w or "static" in w for w in plan.warnings), plan.warnings


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


def test_too_many_frames_are_chosen_evenly():
    reply = str([f"scene number {i} in the valley" for i in range(10)])
    plan = normalize_reply(reply, IDEA, 4)
    assert [f.split(",")[0] for f in plan.frames] == [f"scene number {i} in the valley" for i in (0, 3, 6, 9)]
    assert any("kept 4 evenly spaced" in w for w in plan.warnings)


def test_overlong_frames_are_trimmed_to_clip_and_keep_the_style():
    long = "a " + " ".join(f"very detailed mossy stone number {i}" for i in range(40))
    plan = normalize_reply(f'["{long}", "a short one"]', IDEA, 2)
    assert token_count(plan.frames[0]) <= CLIP_MAX_TOKENS and plan.frames[0].endswith("Studio Ghibli style")
    assert any("trimmed 1 frame" in w for w in plan.warnings)


def test_style_is_added_only_where_missing():
    plan = normalize_reply('["a Ghibli-style meadow", "a plain meadow"]', IDEA, 2)
    assert plan.frames[0] == "a Ghibli-style meadow" and "Studio Ghibli style" in plan.frames[1]


def test_never_evaluates_code(tmp_path):
    marker = tmp_path / "pwned"
    reply = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    plan = normalize_reply(reply, IDEA, 3)
    assert not marker.exists() and len(plan.frames) == 3


@settings(max_examples=300, deadline=None)
@given(reply=st.one_of(st.text(max_size=400), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                       st.lists(st.text(max_size=60), max_size=12).map(str)),
       n=st.integers(min_value=1, max_value=12))
def test_any_reply_gives_exactly_n_frames(reply, n):
    plan = normalize_reply(reply, IDEA, n)
    assert len(plan.frames) == n
    assert all(isinstance(f, str) and f.strip() and "ghibli" in f.lower() for f in plan.frames)
    assert len({f.lower() for f in plan.frames}) == n


def test_non_string_reply_falls_back():
    assert len(normalize_reply(None, IDEA, 3).frames) == 3


# camera words a model may write -> the move read (None: exact, no warning expected)
CAMERA_WORDS = [
    ("push-in", "push-in", False), ("Push In", "push-in", False), ("PUSH_IN:0.5", "push-in:0.5", False),
    ("pan left 0.5", "pan-left:0.5", False), ("Push-In (0.5)", "push-in:0.5", False),
    ("slow dolly in", "push-in:0.5", True), ("zoom out", "pull-back", True), ("dramatic zoom in", "push-in:1.5", True),
    ("camera slowly pans to the left", "pan-left:0.5", True), ("handheld", "sway", True), ("static shot", "static", False),
    ("none", "static", True), ("tilt upward", "tilt-up", True), ("the camera rises", "crane-up", True),
    ("orbit", "orbit-right", True), ("clockwise roll", "roll-right", True), ("pushin", "push-in", True),
    ("push-in:9", "push-in:4", True), ("warp speed", "static", True), ("", "static", True), (7, "static", True),
    ({"move": "orbit", "direction": "left", "speed": 0.5}, "orbit-left:0.5", False),
    ({"type": "pan-right", "strength": "50%"}, "pan-right:0.5", False), ({"type": "truck", "direction": "left", "speed": "slow"},
                                                                          "truck-left:0.5", True),
    (["pan-left", 0.5], "pan-left:0.5", False), ({"foo": 1}, "static", True),
]


@pytest.mark.parametrize("value,move,warned", CAMERA_WORDS, ids=[f"cam{i:02d}" for i in range(len(CAMERA_WORDS))])
def test_camera_words_become_the_nearest_move(value, move, warned):
    from ghibli_core.plan.camera import read_move

    read, warning = read_move(value)
    assert str(read) == move and (warning is not None) == warned, (read, warning)


@settings(max_examples=200, deadline=None)
@given(camera=st.one_of(st.text(max_size=40), st.integers(), st.none(), st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3)),
       n=st.integers(min_value=1, max_value=6))
def test_any_camera_value_gives_a_known_move(camera, n):
    import json as _json

    from ghibli_core.camera import MOVES, Move

    reply = _json.dumps([{"prompt": f"a meadow at hour {i}", "camera": camera} for i in range(n)])
    plan = normalize_reply(reply, IDEA, n)
    assert len(plan.camera) == n and all(Move.parse(m).name in MOVES for m in plan.camera)


def test_repeated_frames_at_clips_limit_are_made_distinct_and_the_loop_ends():
    """Found by the fuzz test: frames that fill CLIP's limit (here mathematical italic letters, several tokens each) and
    repeat. The detail that makes a repeat distinct used to be trimmed away again at once, so the loop never ended."""
    pangram = "𝑻𝒉𝒆 𝒒𝒖𝒊𝒄𝒌 𝒃𝒓𝒐𝒘𝒏 𝒇𝒐𝒙 𝒋𝒖𝒎𝒑𝒔 𝒐𝒗𝒆𝒓 𝒕𝒉𝒆 𝒍𝒂𝒛𝒚 𝒅𝒐𝒈"
    for n in (2, 12):
        plan = normalize_reply(json.dumps([pangram] * n), IDEA, n)
        assert len({f.lower() for f in plan.frames}) == n
        assert all(token_count(f) <= CLIP_MAX_TOKENS and "ghibli" in f.lower() for f in plan.frames)
        assert any("repeated" in w for w in plan.warnings) and any("trimmed" in w for w in plan.warnings)
