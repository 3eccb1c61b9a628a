"""Endpoint configuration: arguments, environment variables and TOML files; keys stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepstones.errors import ConfigError
from stepstones.llm import Endpoint, load_config, resolve_endpoint

KEY = "sk-test-0123456789abcdef"


def test_repr_hides_the_key() -> None:
    ep = Endpoint(base_url="http://h:1/v1/", model="m", api_key=KEY)
    assert KEY not in repr(ep)
    assert KEY not in str(ep)
    assert ep.base_url == "http://h:1/v1"
    assert ep.chat_url == "http://h:1/v1/chat/completions"
    assert ep.api_key == KEY


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "h:1/v1"}, "http://"),
        ({"model": ""}, "model"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout_s": 0.0}, "timeout_s"),
    ],
)
def test_bad_endpoint_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"base_url": "http://h/v1", "model": "m", **kwargs}
    with pytest.raises(ConfigError, match=match):
        Endpoint(**args)  # type: ignore[arg-type]


def test_from_env_prefers_the_role_then_generic_then_openai() -> None:
    env = {
        "STEPSTONES_TEACHER_BASE_URL": "http://teacher/v1",
        "STEPSTONES_TEACHER_MODEL": "big",
        "STEPSTONES_BASE_URL": "http://generic/v1",
        "STEPSTONES_MODEL": "small",
        "OPENAI_API_KEY": KEY,
        "STEPSTONES_STUDENT_MAX_CONCURRENCY": "7",
        "STEPSTONES_TIMEOUT_S": "30",
    }
    teacher = Endpoint.from_env("teacher", env)
    student = Endpoint.from_env("student", env)
    assert (teacher.base_url, teacher.model, teacher.api_key) == ("http://teacher/v1", "big", KEY)
    assert (student.base_url, student.model) == ("http://generic/v1", "small")
    assert student.max_concurrency == 7
    assert teacher.max_concurrency == 64
    assert teacher.timeout_s == student.timeout_s == 30.0


def test_from_env_openai_variables() -> None:
    env = {
        "OPENAI_BASE_URL": "https://api.example/v1",
        "OPENAI_MODEL": "gpt",
        "OPENAI_API_KEY": KEY,
    }
    ep = Endpoint.from_env("student", env)
    assert (ep.base_url, ep.model, ep.api_key) == ("https://api.example/v1", "gpt", KEY)


def test_from_env_errors_name_the_variables() -> None:
    with pytest.raises(ConfigError, match="STEPSTONES_TEACHER_BASE_URL"):
        Endpoint.from_env("teacher", {})
    with pytest.raises(ConfigError, match="STEPSTONES_STUDENT_MODEL"):
        Endpoint.from_env("student", {"STEPSTONES_BASE_URL": "http://h/v1"})
    with pytest.raises(ConfigError, match="MAX_CONCURRENCY must be a int"):
        Endpoint.from_env(
            "teacher",
            {"STEPSTONES_BASE_URL": "http://h/v1", "STEPSTONES_MODEL": "m",
             "STEPSTONES_MAX_CONCURRENCY": "many"},
        )  # fmt: skip


def test_load_config(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.toml"
    path.write_text(
        """
[teacher]
base_url = "https://api.example/v1"
model = "gpt-oss-120b"
api_key_env = "MY_KEY"
max_concurrency = 16
timeout_s = 300

[student]
base_url = "http://127.0.0.1:8000/v1"
model = "qwen"
""",
        encoding="utf-8",
    )
    eps = load_config(path, env={"MY_KEY": KEY})
    assert eps["teacher"].api_key == KEY
    assert eps["teacher"].max_concurrency == 16
    assert eps["teacher"].timeout_s == 300
    assert eps["student"].api_key is None
    assert eps["student"].model == "qwen"
    assert resolve_endpoint("student", path, env={"MY_KEY": KEY}) == eps["student"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[teacher\nbase_url=1", "not valid TOML"),
        ("[critic]\nbase_url='http://h/v1'\nmodel='m'", "unknown sections"),
        ("[teacher]\nbase_url='http://h/v1'\nmodel='m'\napi_key='sk'", "unknown keys"),
        ("[teacher]\nbase_url='http://h/v1'", "needs a string model"),
        ("[teacher]\nbase_url='http://h/v1'\nmodel='m'\napi_key_env='UNSET_VAR'", "UNSET_VAR"),
        ("[teacher]\nbase_url='http://h/v1'\nmodel='m'\ntimeout_s='slow'", "timeout_s"),
        ("teacher = 3", "must be a table"),
    ],
)
def test_load_config_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_config(path, env={})


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read endpoint config"):
        load_config(tmp_path / "nope.toml")


def test_resolve_endpoint_none_when_unconfigured(tmp_path: Path) -> None:
    assert resolve_endpoint("teacher", env={}) is None
    path = tmp_path / "only-student.toml"
    path.write_text("[student]\nbase_url='http://h/v1'\nmodel='m'\n", encoding="utf-8")
    assert resolve_endpoint("teacher", path, env={}) is None
    env = {"STEPSTONES_BASE_URL": "http://env/v1", "STEPSTONES_MODEL": "e"}
    found = resolve_endpoint("teacher", path, env=env)
    assert found is not None and found.base_url == "http://env/v1"
