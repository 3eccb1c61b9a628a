"""End to end on the embedded model: `stepstones generate` with no endpoint configured.

A short real generation (one chain, two turns, M=2, short replies) with the local llama.cpp
0.5B model as teacher and student (``STEPSTONES_LOCAL_TEACHER``/``_STUDENT``), the default
seed corpus and the real sandbox. It checks that the pipeline completes and that every stored
record is valid, not the model's quality. Timeouts are
generous: the 0.5B model writes about 15-35 tokens/s on one core of a busy 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stepstones.llm._local import local_available
from stepstones.pipeline import read_chains, read_rejections
from stepstones.records import ENVIRONMENTS, Chain, decode_json, encode_json

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not local_available(),
        reason="the 'local' extra (llama-cpp-python[server]) is not installed: "
        "pip install 'stepstones[local]' to run the end-to-end test on the embedded model",
    ),
]


def check_chain(chain: Chain) -> None:
    assert decode_json(encode_json(chain), Chain) == chain
    assert chain.env in ENVIRONMENTS
    assert 1 <= len(chain.turns) <= 2
    for i, turn in enumerate(chain.turns):
        assert turn.index == i
        assert (turn.problem is None) != (turn.rejection is None), turn
        if turn.rejection is None:
            continue
        assert turn.rejection.reason
    for problem in chain.problems:
        assert problem.seed_id == chain.seed.id
        assert problem.pass_rate is not None
        assert problem.n_attempts == 2
        assert len(problem.outputs) == len(problem.inputs)


@pytest.mark.timeout(1800)
def test_generate_on_the_embedded_model(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # No endpoint configured (so the embedded models are used); keep the model cache settings.
    # The 0.5B plays both roles here (one server, the model CI caches): the test checks the
    # machinery, and the 1.5B teacher's yield is measured by bench/probe_local_teacher.py.
    keep = {"STEPSTONES_CACHE", "STEPSTONES_LOCAL_THREADS"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("STEPSTONES_", "OPENAI_"))
    }
    env["STEPSTONES_LOCAL_TEACHER"] = env["STEPSTONES_LOCAL_STUDENT"] = "0.5b"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepstones.cli",
            "generate",
            "--out",
            str(out),
            "--chains",
            "1",
            "--max-turns",
            "2",
            "--samples",
            "2",
            "--env",
            "deduction",
            "--progress-interval",
            "30",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "embedded local model" in done.stderr
    chains = list(read_chains(out))
    assert len(chains) == 1
    check_chain(chains[0])
    rejected = {t.index for t in chains[0].turns if t.rejection is not None}
    assert {e.turn for e in read_rejections(out)} == rejected
    for entry in read_rejections(out):
        assert entry.decoded().kind
