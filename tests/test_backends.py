"""LLM plan backends against real servers on 127.0.0.1 (OpenAI chat-completions and the HF router protocol),
and the transformers backend on a tiny random chat model. No SDK is mocked: the real `openai` and
`huggingface_hub` clients make real HTTP requests."""
from __future__ import annotations

import json
import re
import socket
import time

import pytest
from chat_server import ChatServer, Step, hf_error, openai_error

from ghibli_core.defaults import PLAN_MODELS
from ghibli_core.errors import InputError
from ghibli_core.plan import PlannerSettings, make_plan, make_planner
from ghibli_core.plan.faults import RetryPolicy, call_with_retries, PlanFault, retry_after_seconds

OPENAI_KEY = "sk-test-SECRETKEY-0123456789abcdef"
HF_KEY = "hf_testSECRETTOKEN0123456789abcdef"
IDEA = "a ghibli forest with flickering sunlight"


@pytest.fixture
def keys(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("HF_TOKEN", HF_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    # the suite runs with HF_HUB_OFFLINE=1 (no model downloads); these servers are local, so let the hub client talk
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)


@pytest.fixture
def server(keys):
    with ChatServer() as srv:
        yield srv


def settings_for(backend: str, srv: ChatServer, **kw) -> PlannerSettings:
    base = f"{srv.url}/v1" if backend == "openai" else srv.url
    kw.setdefault("model", "test-org/test-chat")
    return PlannerSettings(backend=backend, base_url=base, **kw)


def assert_valid(plan, n):
    assert len(plan.frames) == n
    assert all(f.strip() for f in plan.frames)
    assert all("ghibli" in f.lower() for f in plan.frames)
    assert len({f.lower() for f in plan.frames}) == n


def no_secret(*texts):
    for text in texts:
        assert "SECRET" not in text, text


BACKENDS = ["openai", "hf"]

# Reply shapes written for these tests (the normaliser's own corpus is in test_normalize.py).
REPLIES = [
    '{"animation": {"title": "Forest", "keyframes": [{"n": 1, "visual": "sun rays through cedar trunks"}, '
    '{"n": 2, "visual": "the rays flicker as leaves stir"}, {"n": 3, "visual": "a forest spirit peeks out"}]}}',
    "Sure! Here is your plan:\n\n**Frame 1 —** Sunlight pools on moss.\n**Frame 2 —** Light dances over ferns.\n"
    "**Frame 3 —** A breeze scatters the light.\n\nLet me know if you want changes!",
    "<|im_start|>assistant\n```python\nframe_prompts = ['dawn forest, Studio Ghibli style', 'noon forest, "
    "Studio Ghibli style', 'dusk forest, Studio Ghibli style', 'night forest, Studio Ghibli style', 'extra']\n```<|im_end|>",
    "1) light through trees\n2) light through trees\n3) light through trees",
    '["only one frame: sunlight on a mossy stone"',
    "I'm sorry, but I can't help with that request.",
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reply", REPLIES)
def test_every_reply_yields_n_styled_frames(server, backend, reply):
    server.push(Step(content=reply))
    plan = make_plan(IDEA, 3, settings_for(backend, server))
    assert_valid(plan, 3)
    assert len(server.requests) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_request_carries_the_prompt_key_model_and_sampling(server, backend):
    server.push(Step(content='["a", "b"]'))
    make_plan(IDEA, 5, settings_for(backend, server, temperature=0.3, seed=11))
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {OPENAI_KEY if backend == 'openai' else HF_KEY}"
    body = req["json"]
    assert body["model"] == "test-org/test-chat"
    assert body["temperature"] == 0.3 and body["seed"] == 11 and body["max_tokens"] > 5 * 40
    system, user = body["messages"]
    assert system["role"] == "system" and 'a list of exactly 5 objects {"prompt": ..., "camera": ...}' in system["content"]
    assert "Studio Ghibli style" in system["content"] and "push-in, pull-back" in system["content"]
    assert user["role"] == "user" and IDEA in user["content"]
    # structured output: exactly 5 beats, each a prompt and a move from the vocabulary
    fmt = body["response_format"]  # OpenAI's form; huggingface_hub rewrites it into TGI's grammar for its endpoints
    schema = fmt["json_schema"]["schema"] if backend == "openai" else fmt["value"]
    assert fmt["type"] == ("json_schema" if backend == "openai" else "json_object")
    frames = schema["properties"]["frames"]
    assert frames["minItems"] == frames["maxItems"] == 5 and frames["items"]["required"] == ["prompt", "camera"]
    pattern = re.compile(frames["items"]["properties"]["camera"]["pattern"])
    assert pattern.match("push-in") and pattern.match("sway:0.5") and not pattern.match("zoom")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_server_without_structured_output_is_asked_again_plainly(server, backend):
    server.push(Step(status=400, body=openai_error("response_format json_schema is not supported by this model")),
                Step(content=json.dumps([{"prompt": "a pond at dawn", "camera": "push-in"}, {"prompt": "a pond at noon", "camera": "pull-back"}])))
    plan = make_plan(IDEA, 2, settings_for(backend, server))
    assert plan.backend == backend and plan.camera == ["push-in", "pull-back"] and plan.warnings == [] or \
        plan.warnings == ["added the Ghibli style to 2 frame(s)"]
    assert [("response_format" in r["json"]) for r in server.requests] == [True, False]


# Object-form replies, hostile and odd: exactly N frames come back, each with a move from the vocabulary.
OBJECT_REPLIES = [
    ('{"frames": [{"prompt": "cedars at dawn", "camera": "push-in:0.5"}, {"prompt": "cedars at noon", "camera": "pull-back:0.5"},'
     ' {"prompt": "cedars at dusk", "camera": "static"}]}', ["push-in:0.5", "pull-back:0.5", "static"]),
    ('[{"description": "cedars at dawn", "camera_move": "Slow dolly in"}, {"scene": "cedars at noon", "motion": "zoom out"},'
     ' {"shot": "handheld", "text": "cedars at dusk"}]', ["push-in:0.5", "pull-back", "sway"]),
    ('```json\n[{"prompt": "cedars at dawn", "camera": {"move": "pan", "direction": "left", "speed": 0.5}},'
     ' {"prompt": "cedars at noon", "camera": "PAN_RIGHT"}, {"prompt": "cedars at dusk", "camera": "warp speed"}]\n```',
     ["pan-left:0.5", "pan-right", "static"]),
    ('[{"prompt": "cedars at dawn", "camera": "push-in:99"}, "cedars at noon", {"prompt": "cedars at dusk", "camera": 7}]',
     ["push-in:4", None, "static"]),
    ('1. cedars at dawn | orbit-left\n2. cedars at noon | orbit-right\n3. cedars at dusk', ["orbit-left", "orbit-right", None]),
    ('[{"prompt": "cedars at dawn", "camera": "tilt-up"}, {"prompt": "cedars at noon", "camera": "tilt-down"}, '
     '{"prompt": "cedars at dusk", "camera": "crane-up"}, {"prompt": "cedars at night", "camera": "crane-down"}]',
     ["tilt-up", "crane-up", "crane-down"]),  # one beat too many: three kept evenly (0, 2, 3)
    ('[{"prompt": "cedars at dawn", "camera": "roll-left"}]', ["roll-left", None, None]),  # completed offline
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reply,moves", OBJECT_REPLIES, ids=[f"objects{i}" for i in range(len(OBJECT_REPLIES))])
def test_object_replies_give_n_frames_with_known_moves(server, backend, reply, moves):
    from ghibli_core.camera import MOVES, Move
    from ghibli_core.plan.offline import loop_moves

    server.push(Step(content=reply))
    plan = make_plan(IDEA, 3, settings_for(backend, server))
    assert_valid(plan, 3)
    assert plan.backend == backend and len(plan.camera) == 3
    assert all(Move.parse(m).name in MOVES for m in plan.camera)
    offline = loop_moves(IDEA, 3)
    assert plan.camera == [m if m is not None else offline[i] for i, m in enumerate(moves)]
    assert plan.frames[0].startswith("cedars at dawn")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_good_reply_is_used_as_is(server, backend):
    frames = [f"frame {i}: the forest at hour {i}, Studio Ghibli style" for i in range(4)]
    server.push(Step(content=json.dumps(frames)))
    plan = make_plan(IDEA, 4, settings_for(backend, server))
    assert plan.backend == backend and plan.model == "test-org/test-chat" and plan.warnings == []
    assert plan.frames == [f"the forest at hour {i}, Studio Ghibli style" for i in range(4)]


@pytest.fixture
def refusing_port():
    """A port that refuses connections: bound by this test (so nothing else takes it) but never listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


# (name, steps the server answers, expected words in the warning, requests made)
FAULTS = [
    ("401", [Step(status=401, body=openai_error("Incorrect API key provided"))], "HTTP 401", 1),
    ("403", [Step(status=403, body=hf_error("You do not have access to this model"))], "HTTP 403", 1),
    ("404", [Step(status=404, body=hf_error("Model not found"))], "HTTP 404", 1),
    ("400", [Step(status=400, body=openai_error("Unsupported parameter: 'seed'"))] * 2, "HTTP 400", 2),  # asked once plainly
    ("500 forever", [Step(status=500, headers={"Retry-After": "0"})] * 4, "HTTP 500", 3),
    ("503 loading", [Step(status=503, body={"error": "Model is loading", "estimated_time": 900.0},
                          headers={"Retry-After": "900"})], "900 s", 1),
    ("429 forever", [Step(status=429, headers={"Retry-After": "0"}, body=openai_error("Rate limit reached"))] * 4,
     "HTTP 429", 3),
    ("429 too long", [Step(status=429, headers={"Retry-After": "3600"})], "3600 s", 1),
    ("not json", [Step(body="<html>502 Bad Gateway</html>", content_type="text/html")], "invalid reply body", 1),
    ("broken json", [Step(body='{"choices": [', content_type="application/json")], "invalid reply body", 1),
    ("no choices", [Step(choices=[])], "no choices", 1),
    ("null content", [Step(content=None)], "empty", 1),
    ("dropped", [Step(drop=True)], "", 1),
    ("timeout", [Step(delay=2.0, content='["late"]')], "timed out", 1),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,steps,words,calls", FAULTS, ids=[f[0] for f in FAULTS])
def test_every_fault_ends_in_a_plan_and_a_warning(server, backend, name, steps, words, calls):
    server.push(*steps)
    started = time.monotonic()
    plan = make_plan(IDEA, 6, settings_for(backend, server, timeout=0.5, max_retries=2))
    assert time.monotonic() - started < 10
    assert_valid(plan, 6)
    assert plan.backend == "offline"
    warning = plan.warnings[0]
    assert warning.startswith(f"{backend} backend (test-org/test-chat at ") and warning.endswith("used the offline plan")
    assert words.lower() in warning.lower()
    assert len(server.requests) == calls
    no_secret(warning)


@pytest.mark.parametrize("backend", BACKENDS)
def test_connection_refused(keys, backend, refusing_port):
    url = f"http://127.0.0.1:{refusing_port}" + ("/v1" if backend == "openai" else "")
    plan = make_plan(IDEA, 4, PlannerSettings(backend=backend, base_url=url, max_retries=1))
    assert_valid(plan, 4)
    assert "connection refused" in plan.warnings[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_429_honours_retry_after_then_succeeds(server, backend):
    server.push(Step(status=429, headers={"Retry-After": "1"}, body=hf_error("rate limited")),
                Step(status=503, headers={"retry-after-ms": "200"}),
                Step(content='["pond, Studio Ghibli style", "pond at noon, Studio Ghibli style"]'))
    started = time.monotonic()
    plan = make_plan(IDEA, 2, settings_for(backend, server))
    elapsed = time.monotonic() - started
    assert plan.backend == backend and plan.warnings == []
    assert len(server.requests) == 3
    assert 1.2 <= elapsed < 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_key_never_leaks_even_when_the_server_echoes_it(server, backend):
    echo = f"invalid key {OPENAI_KEY} / {HF_KEY} (sk-test-SECRE...cdef)"
    server.push(Step(status=401, body=openai_error(echo)))
    plan = make_plan(IDEA, 3, settings_for(backend, server))
    no_secret(json.dumps(plan.to_dict()), *plan.warnings)
    assert "HTTP 401" in plan.warnings[0]


@pytest.mark.parametrize("backend,env", [("openai", "OPENAI_API_KEY"), ("hf", "HF_TOKEN")])
def test_missing_key_is_an_error_up_front_or_a_fallback(keys, monkeypatch, backend, env):
    monkeypatch.delenv(env)
    with pytest.raises(InputError, match=f"backend: .*{env} is not set; export {env}="):
        make_planner(PlannerSettings(backend=backend))
    plan = make_plan(IDEA, 3, PlannerSettings(backend=backend, fallback=True))
    assert_valid(plan, 3)
    assert plan.backend == "offline" and f"{env} is not set" in plan.warnings[0]


def test_hf_backend_refuses_hub_offline_mode_up_front(keys, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(InputError, match="backend: the hf backend needs the network but HF_HUB_OFFLINE=1 is set"):
        make_planner(PlannerSettings(backend="hf"))
    plan = make_plan(IDEA, 2, PlannerSettings(backend="hf", fallback=True))
    assert plan.backend == "offline" and "HF_HUB_OFFLINE" in plan.warnings[0]


def test_a_self_hosted_openai_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    server.push(Step(content='["a", "b", "c"]'))
    plan = make_plan(IDEA, 3, settings_for("openai", server))
    assert plan.backend == "openai"
    assert server.requests[0]["headers"]["authorization"] == "Bearer not-needed"


def test_default_models_are_used_when_none_given(server):
    server.push(Step(content='["a"]'), Step(content='["a"]'))
    make_plan(IDEA, 1, PlannerSettings(backend="openai", base_url=f"{server.url}/v1"))
    make_plan(IDEA, 1, PlannerSettings(backend="hf", base_url=server.url))
    assert [r["json"]["model"] for r in server.requests] == [PLAN_MODELS["openai"], PLAN_MODELS["hf"]]


@pytest.mark.parametrize("kw,match", [
    ({"backend": "gpt"}, "backend: unknown plan backend 'gpt'"),
    ({"backend": "openai", "base_url": "localhost:11434"}, "base-url: 'localhost:11434' is not an http"),
    ({"backend": "openai", "base_url": "ftp://user:pw@host/v1"}, "base-url: 'ftp://host/v1'"),
    ({"temperature": 3.0}, r"temperature: 3.0 is out of range"),
    ({"timeout": 0}, r"timeout: 0 is out of range"),
    ({"max_retries": -1}, r"max-retries: -1 is out of range"),
])
def test_bad_planner_settings(kw, match):
    with pytest.raises(InputError, match=match):
        PlannerSettings(**kw)


def test_metadata_view_of_settings_has_no_credentials():
    s = PlannerSettings(backend="openai", base_url="https://user:pass@example.com/v1?api_key=abc#x")
    assert s.to_dict()["base_url"] == "https://example.com/v1"


def test_retry_policy_backs_off_exponentially_and_gives_up():
    waits: list[float] = []
    attempts = []

    def always_busy():
        attempts.append(1)
        raise PlanFault("server error (HTTP 503)", retryable=True)

    with pytest.raises(PlanFault, match=r"HTTP 503\) \(gave up after 4 attempts\)"):
        call_with_retries(always_busy, RetryPolicy(max_retries=3, base_delay=1.0, max_wait=30), sleep=waits.append)
    assert len(attempts) == 4 and len(waits) == 3
    assert 1.0 <= waits[0] <= 1.25 and 2.0 <= waits[1] <= 2.5 and 4.0 <= waits[2] <= 5.0


def test_retry_after_forms():
    assert retry_after_seconds({"Retry-After": "7"}) == 7
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0  # in the past
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 100))
    assert 95 <= retry_after_seconds({"Retry-After": future}) <= 101
    assert retry_after_seconds({"Retry-After": "soon"}) is None and retry_after_seconds({}) is None


# -- transformers backend: a tiny random chat model built by the tiny set --------------------------

def test_transformers_backend_on_a_tiny_chat_model(tiny):
    plan = make_plan(IDEA, 5, PlannerSettings(backend="transformers", model=str(tiny.chat_dir), seed=3, timeout=30))
    assert_valid(plan, 5)
    assert plan.backend == "transformers" and plan.model == "tiny-chat"
    again = make_plan(IDEA, 5, PlannerSettings(backend="transformers", model=str(tiny.chat_dir), seed=3, timeout=30))
    assert again.frames == plan.frames  # the seed makes sampling repeatable


def test_transformers_backend_uses_the_chat_template(tiny):
    from ghibli_core.plan.local import load_chat_pipeline
    from ghibli_core.plan.prompt import build_messages

    generator = load_chat_pipeline(str(tiny.chat_dir), "cpu")
    text = generator.tokenizer.apply_chat_template(build_messages(IDEA, 2), tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")


def test_transformers_backend_bad_model(tmp_path, tiny):
    with pytest.raises(InputError, match="plan-model: no file or folder at"):
        make_planner(PlannerSettings(backend="transformers", model=str(tmp_path / "nope")))
    with pytest.raises(InputError, match="plan-model: folder .* has no config.json"):
        make_planner(PlannerSettings(backend="transformers", model=str(tmp_path)))
    # a model whose tokenizer has no chat template: a warning and the offline plan
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(tiny.chat_dir, plain)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    plan = make_plan(IDEA, 3, PlannerSettings(backend="transformers", model=str(plain)))
    assert_valid(plan, 3)
    assert "no chat template" in plan.warnings[0]
