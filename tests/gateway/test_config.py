"""Routing table configuration: compact strings, TOML/JSON files, defaults, start-up errors."""

from __future__ import annotations

import json

import pytest

from plugin_service.config import load_settings
from plugin_service.gateway import routing
from plugin_service.gateway.breaker import CircuitBreaker
from plugin_service.gateway.config import GatewayConfigError, load_gateway_config, parse_routes
from plugin_service.gateway.routing import RoutingTable
from plugin_service.immich.protocol import parse_entries

OCR = '{"ocr":{"detection":{"modelName":"PP-OCRv5_mobile"},"recognition":{"modelName":"PP-OCRv5_mobile"}}}'


def table(**settings):
    s = load_settings({}, **settings)
    return RoutingTable.build(load_gateway_config(s), s)


def backends(t: RoutingTable, entries: str) -> dict[str, str]:
    return {task: a.backend for task, a in t.assign(parse_entries(entries)).items()}


def test_defaults_local_clip_and_ocr_faces_and_unknown_upstream():
    t = table(upstreams="http://127.0.0.1:9/")
    entries = (
        '{"clip":{"visual":{"modelName":"ViT-B-32__openai"}},"facial-recognition":{"detection":{"modelName":"buffalo_l"},'
        '"recognition":{"modelName":"buffalo_l"}},"new-task":{"x":{"modelName":"m"}}}'
    )
    assert backends(t, entries) == {"clip": "local", "facial-recognition": "default", "new-task": "default"}
    assert backends(t, OCR) == {"ocr": "local"}


def test_faces_local_when_a_face_pack_is_configured(monkeypatch):
    monkeypatch.setattr(routing, "faces_available_locally", lambda settings: True)
    t = table(upstreams="gpu=http://127.0.0.1:9/")
    assert backends(
        t, '{"facial-recognition":{"detection":{"modelName":"buffalo_l"},"recognition":{"modelName":"buffalo_l"}}}'
    ) == {"facial-recognition": "local"}


def test_compact_routes_first_match_wins_with_type_pattern_and_alias():
    routes = parse_routes("clip.textual:ViT-*=gpu; clip:ViT-B-16__openai=local>chinese-clip-vit-base-patch16\n*=immich")
    assert [r.describe() for r in routes] == ["clip.textual:ViT-*=gpu", "clip:ViT-B-16__openai=local", "*=immich"]
    assert routes[1].aliases == {"*": "chinese-clip-vit-base-patch16"}
    t = table(
        upstreams="gpu=http://127.0.0.1:9;immich=http://127.0.0.1:10",
        routes="clip.textual:ViT-*=gpu;clip:ViT-B-16__openai=local>cn;*=immich",
    )
    assert backends(t, '{"clip":{"textual":{"modelName":"ViT-B-32__openai"}}}') == {"clip": "gpu"}
    assert backends(t, '{"clip":{"visual":{"modelName":"ViT-B-32__openai"}}}') == {"clip": "immich"}
    plan = t.assign(parse_entries('{"clip":{"visual":{"modelName":"ViT-B-16__openai"}}}'))
    assert plan["clip"].backend == "local" and plan["clip"].renamed and plan["clip"].types["visual"].modelName == "cn"
    assert backends(t, OCR) == {"ocr": "immich"}  # "*" before the defaults


def test_toml_file(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(
        """
timeout_s = 30
[upstreams.gpu]
urls = ["http://127.0.0.1:9/ml/", "http://127.0.0.1:10"]
failure_threshold = 5
[[routes]]
task = "clip"
backend = "gpu"
aliases = { "ViT-B-16__openai" = "chinese-clip-vit-base-patch16" }
[security]
allow = ["10.0.0.0/8"]
""",
        encoding="utf-8",
    )
    s = load_settings({}, gateway_config=str(path), routes="ocr=gpu")
    config = load_gateway_config(s)
    assert (
        config.pools[0].urls == ("http://127.0.0.1:9/ml/", "http://127.0.0.1:10")
        and config.pools[0].failure_threshold == 5
    )
    assert config.timeout_s == 30 and config.security.allow == ("10.0.0.0/8",)
    t = RoutingTable.build(config, s)
    assert backends(t, OCR) == {"ocr": "gpu"}  # the environment's route comes first
    plan = t.assign(parse_entries('{"clip":{"visual":{"modelName":"ViT-B-16__openai"}}}'))
    assert plan["clip"].types["visual"].modelName == "chinese-clip-vit-base-patch16"
    assert t.assign(parse_entries('{"clip":{"visual":{"modelName":"ViT-B-32__openai"}}}'))["clip"].renamed is False


def test_json_file(tmp_path):
    path = tmp_path / "gateway.json"
    path.write_text(
        json.dumps({"upstreams": {"a": {"urls": ["http://127.0.0.1:9"]}}, "routes": [{"task": "*", "backend": "a"}]})
    )
    config = load_gateway_config(load_settings({}, gateway_config=str(path)))
    assert config.pool_names() == ["a"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"upstreams": "a=http://127.0.0.1:9", "routes": "clip=gpu"}, "names backend 'gpu'"),
        ({"upstreams": "a=ftp://x"}, r"not an http\(s\) URL"),
        ({"upstreams": "local=http://127.0.0.1:9"}, "may not be called 'local'"),
        ({"routes": "clip"}, "not selector=backend"),
        ({"client_allow": "10.0.0.0/33"}, "allow-list entry"),
    ],
)
def test_mistakes_fail_at_start_up(settings, message):
    with pytest.raises(GatewayConfigError, match=message):
        load_gateway_config(load_settings({}, **settings))


def test_unknown_file_keys_are_refused(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[upstream.gpu]\nurls = ["http://127.0.0.1:9"]\n')
    with pytest.raises(GatewayConfigError, match="upstream"):
        load_gateway_config(load_settings({}, gateway_config=str(path)))


def test_circuit_breaker_opens_half_opens_and_closes():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allows_request()
    breaker.record_failure()
    assert breaker.is_open and not breaker.allows_request()
    now[0] = 10.5
    assert breaker.trial_due() and breaker.allows_request()  # the one trial
    assert not breaker.allows_request()  # only one at a time
    breaker.record_failure()  # trial failed: open again
    assert not breaker.allows_request()
    now[0] = 21
    assert breaker.allows_request()
    breaker.record_success()
    assert not breaker.is_open and breaker.allows_request()


def test_cli_check_prints_routes_and_pings(standins):
    from click.testing import CliRunner

    from plugin_service.cli import main

    a, _ = standins
    env = {"PLUGIN_SERVICE_UPSTREAMS": f"gpu=http://user:pw@127.0.0.1:1,{a.url}", "PLUGIN_SERVICE_ROUTES": "ocr=gpu"}
    result = CliRunner().invoke(main, ["gateway", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert "ocr=gpu" in result.output and "facial-recognition=gpu" in result.output
    assert f"{a.url}  ok" in result.output and "http://127.0.0.1:1  DOWN" in result.output
    assert "pw" not in result.output
    down = CliRunner().invoke(main, ["gateway", "check"], env={"PLUGIN_SERVICE_UPSTREAMS": "http://127.0.0.1:1"})
    assert down.exit_code == 1


def test_answer_shape_checks():
    from plugin_service.gateway.pool import answer_problem

    ok = {"clip": "[0.1,0.2]", "imageHeight": 3, "imageWidth": 4}
    assert answer_problem(ok, ("clip",), image=True) is None
    assert answer_problem({"clip": "[0.1]"}, ("clip",), image=False) is None
    assert answer_problem({"clip": "[0.1]"}, ("clip",), image=True) == "no integer imageHeight/imageWidth"
    assert "not str" in answer_problem({"clip": [0.1], "imageHeight": 3, "imageWidth": 4}, ("clip",), image=True)
    assert answer_problem(["clip"], ("clip",), image=False) == "not a JSON object"
    assert answer_problem({"ocr": {}}, ("ocr", "clip"), image=False) == "no 'clip' key"
    assert answer_problem({"future": 1}, ("future",), image=False) is None  # unknown tasks: any value
