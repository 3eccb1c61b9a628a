"""An in-process vLLM engine behind :class:`ChatBackend` (optional extra ``vllm``).

For a GPU node where the pipeline should own the model instead of talking to a server: requests
from every concurrent :meth:`VLLMBackend.chat` go to one ``AsyncLLMEngine``, which batches them
continuously. vLLM is imported only when a backend is started, so stepstones imports without it.

Experimental: the request and output mapping is tested on CPU against a stand-in engine shaped
like vLLM's (``tests/llm/_vllm_standin.py``); no GPU run has confirmed it against a real engine
yet (``tests/llm/test_llm_vllm.py::test_real_engine_samples_n_choices`` is that check).
"""

from __future__ import annotations

import importlib
import itertools
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import anyio

from stepstones.errors import ConfigError, LLMError
from stepstones.llm._think import split_think
from stepstones.llm._types import ChatResult, Choice, Sampling
from stepstones.records import Message, Usage

__all__ = ["VLLMBackend"]

_DEFAULT_SAMPLING = Sampling()


def _import_vllm() -> Any:
    try:  # optional and heavy: imported only when a backend starts
        vllm = importlib.import_module("vllm")
    except ImportError as exc:
        raise ConfigError(
            "VLLMBackend needs vLLM: pip install 'stepstones[vllm]' (on a machine with a GPU)"
        ) from exc
    return vllm


class VLLMBackend:
    """Sample from a model loaded in this process by vLLM (experimental: not yet run on a GPU).

    ``async with VLLMBackend("Qwen/Qwen2.5-Coder-7B-Instruct") as backend: await
    backend.chat(messages, sampling, n=32)``. ``engine_args`` go to ``vllm.AsyncEngineArgs``
    (``tensor_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``...). One request
    with ``n`` samples shares the prompt's KV cache. ``reasoning_effort`` is passed to the chat
    template (GPT-OSS templates read it). Asyncio event loops only (vLLM's engine is asyncio).

    The request asks for the final outputs only (``RequestOutputKind.FINAL_ONLY``); outputs are
    still merged by ``index`` over everything the engine yields, because vLLM's v1 engine
    yields only the samples that advanced when it streams (the default kind), so its last
    ``RequestOutput`` of an ``n``-sample request need not hold all ``n``.
    """

    def __init__(self, model: str, *, engine_args: Mapping[str, Any] | None = None) -> None:
        if not model:
            raise ConfigError("model must be a model name or path, got ''")
        self.model = model
        self.engine_args = dict(engine_args or {})
        self._vllm: Any = None
        self._engine: Any = None
        self._tokenizer: Any = None
        self._ids = itertools.count()

    def __repr__(self) -> str:
        return f"VLLMBackend({self.model!r})"

    async def __aenter__(self) -> Self:
        vllm = _import_vllm()
        args = vllm.AsyncEngineArgs(model=self.model, **self.engine_args)
        self._vllm = vllm
        self._engine = vllm.AsyncLLMEngine.from_engine_args(args)
        tokenizer = self._engine.get_tokenizer()
        if hasattr(tokenizer, "__await__"):
            tokenizer = await tokenizer
        self._tokenizer = tokenizer
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        engine, self._engine = self._engine, None
        shutdown = getattr(engine, "shutdown", None)
        if shutdown is not None:
            shutdown()

    def _prompt(self, messages: Sequence[Message], sampling: Sampling) -> str:
        kwargs: dict[str, Any] = {}
        if sampling.reasoning_effort is not None:
            kwargs["reasoning_effort"] = sampling.reasoning_effort
        prompt = self._tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            tokenize=False,
            add_generation_prompt=True,
            **kwargs,
        )
        return str(prompt)

    async def chat(
        self,
        messages: Sequence[Message],
        sampling: Sampling = _DEFAULT_SAMPLING,
        n: int = 1,
    ) -> ChatResult:
        """Sample ``n`` completions; engine failures raise :class:`~stepstones.errors.LLMError`."""
        if self._engine is None:
            raise ConfigError("VLLMBackend is not started: use it as `async with VLLMBackend(...)`")
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        if not messages:
            raise ConfigError("messages must not be empty")
        params = self._vllm.SamplingParams(
            n=n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            seed=sampling.seed,
            output_kind=self._vllm.sampling_params.RequestOutputKind.FINAL_ONLY,
        )
        started = time.perf_counter()
        by_index: dict[int, Any] = {}  # each sample's latest (cumulative) CompletionOutput
        prompt_tokens = 0
        try:
            prompt = self._prompt(messages, sampling)
            request_id = f"stepstones-{next(self._ids)}"
            async for output in self._engine.generate(prompt, params, request_id):
                prompt_tokens = len(output.prompt_token_ids or ()) or prompt_tokens
                by_index.update((out.index, out) for out in output.outputs)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            raise LLMError(f"vLLM failed on {self.model}: {type(exc).__name__}: {exc}") from exc
        if sorted(by_index) != list(range(n)):
            raise LLMError(
                f"vLLM returned samples {sorted(by_index)} for n={n}; expected indices 0..{n - 1}"
            )
        choices = []
        for index in range(n):
            out = by_index[index]
            reasoning, text = split_think(out.text)
            choices.append(Choice(text, reasoning, out.finish_reason))
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=sum(len(out.token_ids) for out in by_index.values()),
            requests=1,
            latency_s=time.perf_counter() - started,
        )
        return ChatResult(tuple(choices), usage)
