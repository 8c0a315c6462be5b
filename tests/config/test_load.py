"""Config loading: env interpolation, strict keys, every error with its dotted path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchgear.config.defaults import default_config
from switchgear.config.load import ConfigError, load_config, parse_config

GOOD = """
server: {port: 4100}
auth:
  keys:
    - {name: app, key: "${APP_KEY}"}
providers:
  - name: oai
    vendor: openai
    api_key: ${OPENAI_KEY:-sk-default-value}
    timeouts: {connect: 3, first_token: 30}
  - name: local
    vendor: vllm
    base_url: http://10.0.0.5:8000/v1
models:
  - name: gpt
    deployments:
      - {provider: oai, model: gpt-4o}
      - {provider: local, model: llama}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "switchgear.yaml"
    p.write_text(text)
    return p


def test_good_config_interpolates_environment(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), env={"APP_KEY": "sk-app-1234567"})
    assert cfg.server.port == 4100
    assert cfg.auth.keys[0].key == "sk-app-1234567"
    assert cfg.providers[0].api_key == "sk-default-value"  # ${VAR:-default}
    assert cfg.providers[0].timeouts.connect == 3.0
    assert cfg.providers[0].timeouts.idle == 120.0  # default kept
    assert [d.provider for d in cfg.models[0].deployments] == ["oai", "local"]


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    text = """
server: {port: "high", colour: blue}
providers:
  - {name: a, vendor: openai, timeouts: {connect: soon}}
  - {vendor: openai, surprise: 1}
models:
  - {name: m, deployments: [{provider: a}]}
"""
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text), env={})
    problems = ei.value.problems
    joined = "\n".join(problems)
    assert "server.colour: unknown key" in joined
    assert "server.port: Expected `int`, got `str`" in joined
    assert "providers[0].timeouts.connect: Expected `float`, got `str`" in joined
    assert "providers[1].name: required key is missing" in joined
    assert "providers[1].surprise: unknown key" in joined
    assert "models[0].deployments[0].model: required key is missing" in joined
    assert len(problems) == 6


def test_cross_references_are_checked(tmp_path: Path) -> None:
    text = """
providers:
  - {name: a, vendor: openai}
  - {name: a, vendor: nosuchvendor}
  - {name: az, vendor: azure, base_url: "https://x.openai.azure.com"}
  - {name: br, vendor: bedrock}
  - {name: c, vendor: openai_compatible}
models:
  - {name: m, deployments: [{provider: ghost, model: x}]}
  - {name: m, deployments: [{provider: a, model: x}]}
"""
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, text), env={})
    joined = "\n".join(ei.value.problems)
    assert "providers[1].name: duplicate provider name 'a'" in joined
    assert "providers[1].vendor: unknown vendor 'nosuchvendor'" in joined
    assert "providers[2].api_version: required for vendor 'azure'" in joined
    assert "providers[3].region: required for vendor 'bedrock'" in joined
    assert "providers[4].base_url: required for vendor 'openai_compatible'" in joined
    assert "models[0].deployments[0].provider: unknown provider 'ghost'" in joined
    assert "models[1].name: duplicate model name 'm'" in joined


def test_missing_environment_variable_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, GOOD), env={})
    assert ei.value.problems == ["auth.keys[0].key: environment variable APP_KEY is not set"]


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, "providers: [\n  {name: a\n"), env={})
    assert "line" in ei.value.problems[0] and "invalid YAML" in ei.value.problems[0]


def test_root_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError) as ei:
        parse_config(["a"], env={})
    assert ei.value.problems == ["<root>: expected a mapping, got list"]


def test_check_config_command_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD.replace("${APP_KEY}", "sk-app-1234567"))
    ok = subprocess.run([sys.executable, "-m", "switchgear.cli", "check-config", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "OK (2 providers, 1 models, 1 client keys)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("server: {port: x}\nmodels: [{name: m, deployments: [{provider: p, model: q}]}]\n")
    res = subprocess.run([sys.executable, "-m", "switchgear.cli", "check-config", str(bad)], capture_output=True, text=True)
    assert res.returncode == 1
    assert "server.port: Expected `int`, got `str`" in res.stderr


def test_embedded_defaults_without_keys_use_the_simulator() -> None:
    cfg, key = default_config(env={})
    assert key is not None and key.startswith("sk-sg-")
    assert {p.vendor for p in cfg.providers} == {"simulator"}
    names = {m.name for m in cfg.models}
    assert {"sim-gpt", "sim-claude", "sim-gemini", "sim-bedrock", "sim-failover", "sim-embed"} <= names
    assert "simulator" in cfg.source


def test_embedded_defaults_discover_providers_from_environment() -> None:
    env = {"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "SWITCHGEAR_API_KEY": "sk-my-own-key"}
    cfg, key = default_config(env=env)
    assert key is None  # the operator chose the key
    assert cfg.auth.keys[0].key == "sk-my-own-key"
    assert {p.name: p.api_key for p in cfg.providers} == {"openai": "sk-o", "anthropic": "sk-a"}
    names = {m.name for m in cfg.models}
    assert "openai/*" in names and "claude-sonnet-4-5" in names and "gpt-4o" in names


def test_serve_reports_missing_aws_credentials_without_a_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bedrock.yaml"
    cfg.write_text("auth: {keys: [{key: sk-0123456789}]}\n"
                   "providers: [{name: br, vendor: bedrock, region: us-east-1}]\n"
                   "models: [{name: m, deployments: [{provider: br, model: x}]}]\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    res = subprocess.run([sys.executable, "-m", "switchgear.cli", "serve", "--config", str(cfg), "--port", "0"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2
    assert "provider 'br': no AWS credentials found" in res.stderr
    assert "Traceback" not in res.stderr


def test_example_configs_are_valid() -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        cfg = load_config(path, env={})
        assert cfg.models, path


def test_route_explain_works_offline_on_simulator_providers() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
    res = subprocess.run([sys.executable, "-m", "switchgear.cli", "route", "explain", "--config", str(example),
                          "--model", "assistant", "--header", "x-switchgear-residency:eu"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "1. sim-eu/gpt-4o" in res.stdout
    assert "excluded sim-us/claude-sonnet-4-5: placement: region us-east-1 is outside residency eu" in res.stdout
