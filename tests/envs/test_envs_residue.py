"""Chat-template residue is stripped where templates leave it, never out of data."""

from __future__ import annotations

import pytest

from stepstones import envs
from stepstones.envs._blocks import blocks


@pytest.mark.parametrize("token", ["<s>", "</s>", "[INST]", "<|im_end|>", "<|0|>"])
def test_token_inside_an_answer_literal_is_data(token: str) -> None:
    completion = f"The output is:\n```output\n'{token}x'\n```<|im_end|>\n"
    assert envs.get("deduction").extract(completion) == f"'{token}x'"


def test_residue_at_the_edges_and_on_its_own_line_is_dropped() -> None:
    reply = "<|im_start|>assistant\n```input\n'[INST]', 2\n```\n<|im_end|>\n</s>"
    (block,) = (b for b in blocks(reply) if b.kind == "input")
    assert block.text.strip() == "'[INST]', 2"
