"""Metrics render in the Prometheus text format with the right values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from switchgear.core.types import Usage
from switchgear.telemetry.metrics import Metrics


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_errors_tokens_and_histograms() -> None:
    m = Metrics()
    m.observe_request("chat", "gpt", "openai", 200, 0.02, None, None, Usage(input_tokens=10, output_tokens=5,
                                                                              cached_input_tokens=4))
    m.observe_request("chat", "gpt", "openai", 200, 0.3, 0.007, None, Usage(input_tokens=1, output_tokens=2))
    m.observe_request("chat", "gpt", "openai", 502, 1.5, None, "upstream_unavailable")
    m.observe_attempt_failure("openai", "upstream_timeout")
    m.inflight = 3
    s = samples(m)
    lv = (("endpoint", "chat"), ("model", "gpt"), ("provider", "openai"))
    assert s[("switchgear_requests_total", tuple(sorted((*lv, ("status", "200")))))] == 2
    assert s[("switchgear_requests_total", tuple(sorted((*lv, ("status", "502")))))] == 1
    assert s[("switchgear_request_errors_total", tuple(sorted((*lv, ("code", "upstream_unavailable")))))] == 1
    tok = (("model", "gpt"), ("provider", "openai"))
    assert s[("switchgear_tokens_total", tuple(sorted((*tok, ("direction", "input")))))] == 11
    assert s[("switchgear_tokens_total", tuple(sorted((*tok, ("direction", "output")))))] == 7
    assert s[("switchgear_tokens_total", tuple(sorted((*tok, ("direction", "cached_input")))))] == 4
    # cumulative "le" buckets: 0.02 <= 0.025; 0.3 <= 0.5; 1.5 <= 2.5
    assert s[("switchgear_request_duration_seconds_bucket", tuple(sorted((*lv, ("le", "0.025")))))] == 1
    assert s[("switchgear_request_duration_seconds_bucket", tuple(sorted((*lv, ("le", "0.5")))))] == 2
    assert s[("switchgear_request_duration_seconds_bucket", tuple(sorted((*lv, ("le", "+Inf")))))] == 3
    assert s[("switchgear_request_duration_seconds_count", lv)] == 3
    assert abs(s[("switchgear_request_duration_seconds_sum", lv)] - 1.82) < 1e-9
    assert s[("switchgear_time_to_first_token_seconds_bucket", tuple(sorted((*lv, ("le", "0.01")))))] == 1
    assert s[("switchgear_upstream_attempt_failures_total", (("code", "upstream_timeout"), ("provider", "openai")))] == 1
    assert s[("switchgear_inflight_requests", ())] == 3


def test_a_value_on_a_bucket_bound_counts_in_that_bucket() -> None:
    m = Metrics()
    m.observe_request("chat", "m", "p", 200, 0.005, None, None)
    s = samples(m)
    lv = (("endpoint", "chat"), ("model", "m"), ("provider", "p"))
    assert s[("switchgear_request_duration_seconds_bucket", tuple(sorted((*lv, ("le", "0.005")))))] == 1


def test_cost_is_summed_per_model_and_provider_in_usd() -> None:
    from switchgear.telemetry.metrics import Metrics

    m = Metrics()
    m.observe_request("chat", "gpt", "openai", 200, 0.1, None, None, None, 1_500_000_000)
    m.observe_request("messages", "gpt", "openai", 200, 0.1, None, None, None, 500_000_000)
    m.observe_request("chat", "gpt", "openai", 502, 0.1, None, "upstream_unavailable", None, None)
    text = m.render().decode()
    assert 'switchgear_cost_usd_total{model="gpt",provider="openai"} 2.0' in text
