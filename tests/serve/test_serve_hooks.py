"""The trainers' in-process reward hooks: verl's compute_score, TRL's async reward callable
and OpenRLHF's reward_func, grading in the process-wide sandbox."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from _serve_problems import ANSWERS

from stepstones import records
from stepstones.records import ENVIRONMENTS, Env, Problem
from stepstones.serve import compute_score, reward_func, trl_reward

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_hooks_import_no_trainer_or_torch() -> None:
    code = (
        "import sys, stepstones.serve\n"
        "heavy = ('torch', 'openrlhf', 'verl', 'trl', 'transformers', 'ray', 'vllm')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_verl_compute_score(problems: dict[Env, Problem]) -> None:
    for env in ENVIRONMENTS:
        label = records.encode_json(problems[env]).decode()
        right, wrong = ANSWERS[env]
        good = compute_score(f"stepstones/{env}/all", right + "<|im_end|>", label, {"index": 0})
        bad = compute_score(f"stepstones/{env}/all", wrong, label)
        assert good["score"] == 1.0
        assert good["pass"] == 1.0
        assert bad["score"] == 0.0
        assert bad["wrong"] == 1.0
        assert set(good) == set(bad)  # verl stacks extra keys across items
    assert compute_score("x", ANSWERS["deduction"][0], "garbage")["bad_label"] == 1.0


@pytest.mark.anyio
async def test_trl_reward_reads_text_and_conversational_completions(
    problems: dict[Env, Problem],
) -> None:
    labels, completions, expected = [], [], []
    for env in ENVIRONMENTS:
        label = records.encode_json(problems[env]).decode()
        right, wrong = ANSWERS[env]
        labels += [label, label]
        completions += [[{"role": "assistant", "content": right}], wrong]
        expected += [1.0, 0.0]
    prompts = [[{"role": "user", "content": "q"}]] * len(labels)
    got = await trl_reward(prompts, completions, label=labels, env=["x"] * len(labels))
    assert got == expected


def test_openrlhf_reward_func_from_many_threads(problems: dict[Env, Problem]) -> None:
    """OpenRLHF calls reward_func from worker threads concurrently; all share one grading loop."""
    prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    results: dict[tuple[int, Env], float] = {}

    def call(i: int, env: Env) -> None:
        label = records.encode_json(problems[env]).decode()
        completion = ANSWERS[env][i % 2]
        out = reward_func([prompt + completion + "<|im_end|>"], [prompt], [label])
        results[(i, env)] = out["rewards"][0]

    threads = [
        threading.Thread(target=call, args=(i, env)) for i in range(4) for env in ENVIRONMENTS
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {
        (i, env): 1.0 if i % 2 == 0 else 0.0 for i in range(4) for env in ENVIRONMENTS
    }


def test_example_reward_files_expose_the_hooks() -> None:
    namespace: dict[str, object] = {}
    exec((EXAMPLES / "openrlhf" / "reward_func.py").read_text(), namespace)
    assert namespace["reward_func"] is reward_func
    namespace = {}
    exec((EXAMPLES / "verl" / "reward_fn.py").read_text(), namespace)
    assert namespace["compute_score"] is compute_score
