"""The four environments: what a problem is, how a teacher reply becomes one, how it is graded.

Each environment (:class:`Induction`, :class:`Abduction`, :class:`Deduction`, :class:`Fuzzing`)
implements :class:`Environment`: teacher prompts (seed, mutate, top-down), a tolerant parser of
the teacher's reply, validation in the sandbox (gold outputs are computed, never written by the
teacher), the student prompt, an answer extractor and a grader with binary rewards. Look them up
by name with :func:`get`; :data:`ALL` maps every name to a default-configured instance.

Everything works without an LLM: build a :class:`~stepstones.records.Draft` by hand (or
:meth:`~Environment.parse` a reply you wrote), ``await env.validate(draft, sandbox)``, then
``await env.grade(problem, answers, sandbox)``.
"""

from __future__ import annotations

from types import MappingProxyType

from stepstones.envs._abduction import Abduction
from stepstones.envs._banned import BannedConstructs
from stepstones.envs._base import Environment, Instruction, Stage
from stepstones.envs._blocks import Block, blocks, split_reasoning
from stepstones.envs._compare import compare, values_equal
from stepstones.envs._core import BaseEnvironment
from stepstones.envs._deduction import Deduction
from stepstones.envs._dedup import Deduplicator, normalize_code, problem_id
from stepstones.envs._fuzzing import Fuzzing
from stepstones.envs._induction import Induction
from stepstones.errors import ConfigError
from stepstones.records import ENVIRONMENTS, Env

__all__ = [
    "ALL",
    "Abduction",
    "BannedConstructs",
    "BaseEnvironment",
    "Block",
    "Deduction",
    "Deduplicator",
    "Environment",
    "Fuzzing",
    "Induction",
    "Instruction",
    "Stage",
    "blocks",
    "compare",
    "get",
    "normalize_code",
    "problem_id",
    "split_reasoning",
    "values_equal",
]

#: Every environment by name, default-configured; read-only.
ALL: MappingProxyType[Env, BaseEnvironment] = MappingProxyType(
    {
        "induction": Induction(),
        "abduction": Abduction(),
        "deduction": Deduction(),
        "fuzzing": Fuzzing(),
    }
)


def get(name: Env | str) -> BaseEnvironment:
    """The default-configured environment called ``name``; ConfigError for an unknown name."""
    try:
        return ALL[name]  # type: ignore[index]
    except KeyError:
        raise ConfigError(
            f"unknown environment {name!r}; choose one of {', '.join(ENVIRONMENTS)}"
        ) from None
