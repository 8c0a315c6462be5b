"""`switchgear route explain`, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = """
auth:
  keys:
    - {name: eu, key: sk-eu-key-123456, requirements: {regions: [eu]}}
providers:
  - {name: a, vendor: openai, api_key: k}
  - {name: b, vendor: anthropic, api_key: k}
models:
  - name: m
    deployments:
      - {provider: a, model: gpt-4o, tags: {region: eu-west-1, environment: cloud}}
      - {provider: b, model: claude, tags: {region: us-east-1}}
      - {provider: a, model: mini}
    fallbacks: {server_error: [big]}
  - name: big
    strategy: weighted
    deployments:
      - {provider: b, model: claude-big, weight: 2, tags: {region: eu-central-1}}
      - {provider: a, model: gpt-big, tags: {region: us-west-2}}
"""


def explain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return subprocess.run([sys.executable, "-m", "switchgear.cli", "route", "explain", "--config", str(path), *args],
                          capture_output=True, text=True, timeout=30)


def test_lists_candidates_in_order_and_fallbacks(tmp_path: Path) -> None:
    r = explain(tmp_path, "--model", "m")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("1. a/gpt-4o") < out.index("2. b/claude") < out.index("3. a/mini")
    assert "model big (strategy weighted)  [fallback on server_error from m]" in out
    assert "b/claude-big  (region eu-central-1, weight 2)" in out
    assert "breaker state unknown offline" in out


def test_key_and_headers_exclude_with_the_rule(tmp_path: Path) -> None:
    r = explain(tmp_path, "--model", "m", "--key", "sk-eu-key-123456", "--header", "x-switchgear-environment: cloud")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "requirements: residency eu; environment cloud" in out
    assert "1. a/gpt-4o" in out and "2." not in out
    assert "excluded b/claude: placement: region us-east-1 is outside residency eu" in out
    assert "excluded a/mini: placement: no region tag (residency eu required)" in out
    assert "candidates: none (this fallback is skipped)" in out  # big: nothing in eu is tagged cloud


def test_unknown_model_key_or_bad_header_is_an_error(tmp_path: Path) -> None:
    r = explain(tmp_path, "--model", "nope")
    assert r.returncode == 2 and "no model 'nope'" in r.stderr
    r = explain(tmp_path, "--model", "m", "--key", "sk-not-a-key-00")
    assert r.returncode == 2 and "not a client key" in r.stderr
    r = explain(tmp_path, "--model", "m", "--header", "x-switchgear-environment:moon")
    assert r.returncode == 2 and "moon" in r.stderr
