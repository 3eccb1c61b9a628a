"""The public surface of stepstones.llm and stepstones.testing is exactly what is listed."""

from __future__ import annotations

import stepstones.llm
import stepstones.testing


def test_llm_exports() -> None:
    assert stepstones.llm.__all__ == [
        "LOCAL_MODEL_ALIAS",
        "QWEN_CODER_05B",
        "ChatBackend",
        "ChatResult",
        "Choice",
        "Client",
        "Endpoint",
        "ModelSpec",
        "RetryPolicy",
        "Role",
        "Sampling",
        "VLLMBackend",
        "check_endpoint",
        "fetch_model",
        "is_retryable_status",
        "load_config",
        "local_available",
        "local_endpoint",
        "resolve_endpoint",
        "retry_after_s",
        "retry_delay_s",
        "split_think",
    ]
    for name in stepstones.llm.__all__:
        assert hasattr(stepstones.llm, name), name


def test_testing_exports() -> None:
    assert stepstones.testing.__all__ == [
        "Handler",
        "Reply",
        "Request",
        "ScriptedLLMServer",
        "completion",
    ]
    for name in stepstones.testing.__all__:
        assert hasattr(stepstones.testing, name), name
