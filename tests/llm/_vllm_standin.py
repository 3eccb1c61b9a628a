"""A stand-in for the parts of vLLM that :class:`stepstones.llm.VLLMBackend` touches, for CPU tests.

Not a model: it answers from a script. Its shapes follow vLLM's own code (v1 engine):
``vllm/outputs.py`` (``CompletionOutput`` and ``RequestOutput`` fields), ``vllm/sampling_params.py``
(``SamplingParams`` keywords, ``RequestOutputKind``), ``vllm/v1/engine/async_llm.py``
(``AsyncLLM.from_engine_args``, ``generate(prompt, sampling_params, request_id)`` as an async
generator, ``get_tokenizer()``, ``shutdown()``) and ``vllm/v1/engine/parallel_sampling.py``: for
``n > 1`` the engine runs ``n`` child requests; with ``FINAL_ONLY`` it yields one
``RequestOutput`` holding all ``n`` outputs, and with ``CUMULATIVE`` (the default) each yield
holds only the samples that advanced since the last one, the finishing yield included.
"""

from __future__ import annotations

import enum
import types
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any


class RequestOutputKind(enum.Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


# The SamplingParams keywords VLLMBackend may pass (a subset of vLLM's fields).
SAMPLING_FIELDS = {"n", "temperature", "top_p", "max_tokens", "stop", "seed", "output_kind"}


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        unknown = set(kwargs) - SAMPLING_FIELDS
        assert not unknown, f"not a vLLM SamplingParams field: {unknown}"
        self.n = kwargs.get("n", 1)
        self.temperature = kwargs.get("temperature", 1.0)
        self.top_p = kwargs.get("top_p", 1.0)
        self.max_tokens = kwargs.get("max_tokens", 16)
        self.stop = kwargs.get("stop")
        self.seed = kwargs.get("seed")
        self.output_kind = kwargs.get("output_kind", RequestOutputKind.CUMULATIVE)


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: Sequence[int]
    cumulative_logprob: float | None
    logprobs: Any
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    prompt_logprobs: Any
    outputs: list[CompletionOutput]
    finished: bool


class Tokenizer:
    """Renders a chat like a ChatML template and records the keywords it was given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> str:
        self.calls.append({"conversation": conversation, **kwargs})
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in conversation)
        return text + ("<|im_start|>assistant\n" if kwargs.get("add_generation_prompt") else "")


@dataclass
class Sample:
    """One scripted sample: its text and why it stopped."""

    text: str
    finish_reason: str = "stop"


@dataclass
class Engine:
    """``AsyncLLMEngine`` as the backend sees it; ``script`` gives the samples of each request
    (sample ``i`` of request ``r`` is ``script[r][i]``), finished in ``finish_order``."""

    script: list[list[Sample]]
    finish_order: list[int] | None = None  # which sample finishes first, second...; None: 0..n-1
    honour_final_only: bool = True
    fail_with: Exception | None = None
    requests: list[tuple[str, SamplingParams, str]] = field(default_factory=list)
    tokenizer: Tokenizer = field(default_factory=Tokenizer)
    shut_down: bool = False

    def get_tokenizer(self) -> Tokenizer:
        return self.tokenizer

    def shutdown(self) -> None:
        self.shut_down = True

    async def generate(
        self, prompt: str, sampling_params: SamplingParams, request_id: str
    ) -> AsyncIterator[RequestOutput]:
        self.requests.append((prompt, sampling_params, request_id))
        if self.fail_with is not None:
            raise self.fail_with
        samples = self.script[len(self.requests) - 1]
        prompt_ids = list(range(len(prompt.split())))
        done = [
            CompletionOutput(
                index=i,
                text=s.text,
                token_ids=tuple(range(len(s.text.split()))),
                cumulative_logprob=None,
                logprobs=None,
                finish_reason=s.finish_reason,
            )
            for i, s in enumerate(samples[: sampling_params.n])
        ]
        final_only = sampling_params.output_kind is RequestOutputKind.FINAL_ONLY
        if final_only and self.honour_final_only:
            yield RequestOutput(request_id, prompt, prompt_ids, None, done, finished=True)
            return
        order = self.finish_order or list(range(len(done)))
        for k, i in enumerate(order):  # one child finishes per step: only it is in the yield
            last = k == len(order) - 1
            yield RequestOutput(request_id, prompt, prompt_ids, None, [done[i]], finished=last)


def vllm_module(engine: Engine) -> types.ModuleType:
    """A module object standing in for ``vllm`` whose engine is ``engine``."""
    module = types.ModuleType("vllm")
    module.engine_args = []  # type: ignore[attr-defined]

    def engine_args(**kwargs: Any) -> dict[str, Any]:
        module.engine_args.append(kwargs)  # type: ignore[attr-defined]
        return kwargs

    module.AsyncEngineArgs = engine_args  # type: ignore[attr-defined]
    module.AsyncLLMEngine = types.SimpleNamespace(from_engine_args=lambda args: engine)  # type: ignore[attr-defined]
    module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    module.sampling_params = types.SimpleNamespace(  # type: ignore[attr-defined]
        SamplingParams=SamplingParams, RequestOutputKind=RequestOutputKind
    )
    return module
