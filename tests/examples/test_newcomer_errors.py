"""The errors a newcomer hits in the first hour, end to end through the CLI and the Python API:
no server at the URL, a wrong model name, a sandbox layer this kernel cannot give, an empty
seed source. Each must be one sentence that says what to do, and exit 1 (not a traceback,
and not a "successful" run whose every turn was rejected).

Each run checks its endpoints first (stepstones.llm.check_endpoint, one GET /models) and
starts the sandbox, before its run directory is made: a failure leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from _examples_run import Deduction, clean_env

from stepstones.cli import main
from stepstones.errors import (
    ConfigError,
    IsolationUnavailableError,
    LLMConnectionError,
    SeedError,
)
from stepstones.llm import Endpoint
from stepstones.pipeline import Config, generate_chain
from stepstones.sandbox import Sandbox
from stepstones.seeds import SeedSampler
from stepstones.testing import ScriptedLLMServer

SEED = "def area(w, h):\n    return w * h\n"


def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def served(*models: str) -> ScriptedLLMServer:
    """A server of ``models`` that answers like vLLM (HTTP 404, "The model `x` does not
    exist.") for any other name."""
    return ScriptedLLMServer(Deduction(), models=models)


async def generate(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(timeout_s):
        return await anyio.run_process(
            [sys.executable, "-m", "stepstones.cli", "generate", *args],
            check=False,
            env=clean_env(),
        )


def one_sentence(stderr: bytes) -> str:
    """The last stderr line: what the user reads; it must be the whole error."""
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    assert "Traceback" not in stderr.decode()
    return lines[-1]


def small(out: Path) -> list[str]:
    return ["--out", str(out), "--chains", "1", "--max-turns", "1", "--samples", "2", "--quiet"]


# -- no server at the URL ------------------------------------------------------------------


@pytest.mark.anyio
async def test_cli_no_server(tmp_path: Path) -> None:
    url = closed_url()
    proc = await generate(*small(tmp_path / "run"), "--teacher-url", url, "--teacher-model", "m")
    assert proc.returncode == 1
    assert one_sentence(proc.stderr).startswith(f"stepstones generate: no server answers at {url}")
    assert not (tmp_path / "run").exists()  # checked before the run directory is made


@pytest.mark.anyio
async def test_api_no_server() -> None:
    url = closed_url()
    with pytest.raises(LLMConnectionError, match=f"no server answers at {url}"):
        await generate_chain(
            SEED, env="deduction", teacher=Endpoint(base_url=url, model="m"),
            config=Config(samples=2, max_turns=1),
        )  # fmt: skip


def test_ray_run_no_server_and_wrong_model_stop_before_ray(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``stepstones generate --ray`` checks the endpoints before Ray starts."""
    url = closed_url()
    argv = [*small(tmp_path / "a"), "--teacher-url", url, "--teacher-model", "m", "--ray", "local"]
    assert main(["generate", *argv]) == 1
    assert capsys.readouterr().err.startswith(f"stepstones generate: no server answers at {url} ")
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(served("scripted")) as srv,
    ):
        argv = [*small(tmp_path / "b"), "--teacher-url", srv.base_url,
                "--teacher-model", "Qwen/typo", "--ray", "local"]  # fmt: skip
        assert main(["generate", *argv]) == 1
    err = capsys.readouterr().err
    assert re.match(r"stepstones generate: model 'Qwen/typo' is not served at .*'scripted'", err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# -- wrong model name ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_cli_wrong_model(tmp_path: Path) -> None:
    async with served("scripted") as srv:
        proc = await generate(
            *small(tmp_path / "run"), "--env", "deduction",
            "--teacher-url", srv.base_url, "--teacher-model", "Qwen/typo",
        )  # fmt: skip
    assert proc.returncode == 1
    assert "model 'Qwen/typo' is not served at" in one_sentence(proc.stderr)
    assert "(it serves 'scripted')" in one_sentence(proc.stderr)
    assert [r.path for r in srv.requests] == ["/v1/models"]  # no chat request was sent
    assert not (tmp_path / "run").exists()


@pytest.mark.anyio
async def test_api_wrong_model() -> None:
    async with served("scripted") as srv:
        with pytest.raises(ConfigError, match=r"^model 'Qwen/typo' is not served at .*'scripted'"):
            await generate_chain(
                SEED, env="deduction", teacher=Endpoint(base_url=srv.base_url, model="Qwen/typo"),
                config=Config(samples=2, max_turns=1),
            )  # fmt: skip
    assert [r.path for r in srv.requests] == ["/v1/models"]


@pytest.mark.anyio
async def test_cli_right_model_runs(tmp_path: Path) -> None:
    """The control for the case above: the same server and command with the served name."""
    async with served("scripted") as srv:
        proc = await generate(
            *small(tmp_path / "run"), "--env", "deduction", "--sandbox-workers", "1",
            "--teacher-url", srv.base_url, "--teacher-model", "scripted",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert "1 chains in" in proc.stderr.decode()


# -- sandbox layer unavailable -------------------------------------------------------------


def test_api_missing_layer_says_how_to_proceed() -> None:
    with pytest.raises(IsolationUnavailableError) as info:
        Sandbox(workers=1, disable_layers=["landlock"])
    message = str(info.value)
    assert message.startswith("required isolation layers are unavailable here: landlock;")
    assert "allow_weaker=True" in message and "\n" not in message


def _setpriv_works() -> bool:
    if shutil.which("setpriv") is None:
        return False
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "true"], check=False
    )
    return proc.returncode == 0


@pytest.mark.skipif(not _setpriv_works(), reason="needs setpriv and the right to drop caps")
def test_cli_sandbox_without_capabilities_names_the_fix(tmp_path: Path) -> None:
    """Root without capabilities, as in a default Docker container: no namespaces, no setuid."""
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m",
         "stepstones.cli", "generate", *small(tmp_path / "run"),
         "--teacher-url", closed_url(), "--teacher-model", "m"],
        check=False, capture_output=True, env=clean_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    line = one_sentence(proc.stderr)
    assert line.startswith("stepstones generate: required isolation layers are unavailable here")
    assert "--allow-weaker-sandbox" in line and "`stepstones doctor`" in line
    assert not (tmp_path / "run").exists()  # the sandbox starts before the run directory


# -- empty seed source ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_cli_empty_seed_source(tmp_path: Path) -> None:
    empty = tmp_path / "seeds"
    empty.mkdir()
    proc = await generate(
        *small(tmp_path / "run"), "--seeds", str(empty),
        "--teacher-url", closed_url(), "--teacher-model", "m",
    )  # fmt: skip
    assert proc.returncode == 1
    assert one_sentence(proc.stderr) == (
        f"stepstones generate: seed source {empty} holds no documents; point it at files "
        "matching '*.py' or at JSONL/Parquet rows with a 'content' column"
    )
    assert not (tmp_path / "run").exists()  # nothing was started or written


def test_api_empty_seed_source(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match=r"holds no documents; point it at files matching"):
        SeedSampler(tmp_path)
    (tmp_path / "blank.py").write_text("\n\n# only a comment\n")
    with pytest.raises(SeedError, match=r"found no window of 25-50 lines of code .* use a source"):
        SeedSampler(tmp_path).sample(0)
