"""Every command line the README and the examples print is one its program accepts: each
``stepstones ...`` parses with stepstones' own parser, and each OpenRLHF launch parses with
OpenRLHF 0.11.2's parser and passes its own argument checks (the asserts of its entry point,
e.g. "dr_grpo requires n_samples_per_prompt > 1"), with the paper's recipe (dr_grpo, no KL)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from _dataset_wheels import check_openrlhf_argv, openrlhf_parser

from stepstones import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "examples").rglob("*") if p.suffix in (".md", ".sh", ".py")),
]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_DEFAULT = re.compile(r'^\s*(?:export\s+)?(\w+)="\$\{\1:-([^}]*)\}"', re.M)
_START = re.compile(
    r"(?:(?:nohup|exec|\w+=\S*)\s+)*(?:\S*/)?(stepstones\s+[a-z-]|python3\s+-m\s+openrlhf\.)"
)


def _argv(text: str, defaults: dict[str, str]) -> list[str] | None:
    """The command ``text`` starts with (stepstones or OpenRLHF; after ``nohup`` or ``VAR=x``
    prefixes), up to a shell operator or comment; ``$VAR``s with a default in the script take
    it; None when the text does not start with a command."""
    match = _START.match(text.strip())
    if match is None:
        return None
    lexer = shlex.shlex(text.strip()[match.start(1) :], posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.whitespace_split = True
    argv: list[str] = []
    for token in lexer:
        if token and set(token) <= set("();<>|&"):
            break
        inline = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", token)  # ${VAR:-default}
        argv.append(re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m[1], m[0]), inline))
    return [a for a in argv if a != "..."]


def commands(path: Path) -> list[list[str]]:
    """Command lines in a doc or script: fenced shell blocks of Markdown and its inline code
    spans that hold a command with arguments; lines of scripts, comments and docstrings."""
    text = path.read_text().replace("\\\n", " ")
    defaults = dict(_DEFAULT.findall(text))
    if path.suffix == ".md":
        lines = [
            line
            for lang, body in _FENCE.findall(text)
            if lang in ("sh", "bash", "")
            for line in body.splitlines()
        ]
        prose = _FENCE.sub("", text)
    else:
        # Script lines, and usage lines in comments and docstrings (indented or after "#");
        # ``x`` in a docstring names a command rather than printing one.
        lines = [line.strip().lstrip("#") for line in text.splitlines()]
        prose = ""
    found = [argv for line in lines if (argv := _argv(line, defaults))]
    for span in _INLINE.findall(prose):
        argv = _argv(span, defaults)
        # A span that gives arguments (not "`stepstones serve` does X", which names a
        # command rather than printing one).
        if argv and len(argv) > 2:
            found.append(argv)
    return found


def _all() -> list[tuple[str, list[str]]]:
    return [(p.relative_to(ROOT).as_posix(), argv) for p in DOCS for argv in commands(p)]


def test_the_docs_print_commands_of_both_programs() -> None:
    found = _all()
    programs = {(where.split("/")[0], argv[0].rsplit("/", 1)[-1]) for where, argv in found}
    assert ("README.md", "python3") in programs  # the README's OpenRLHF launch
    assert ("README.md", "stepstones") in programs
    assert ("examples", "python3") in programs and ("examples", "stepstones") in programs


@pytest.mark.parametrize(
    ("where", "argv"),
    [c for c in _all() if c[1][0].endswith("stepstones")],
    ids=lambda v: v if isinstance(v, str) else " ".join(v[1:3]),
)
def test_stepstones_commands_parse(where: str, argv: list[str]) -> None:
    name = argv[1]
    if name.startswith("-"):
        return  # `stepstones --version` and the like: the top parser, tested in the CLI tests
    assert name in cli.COMMANDS, f"{where}: no stepstones command {name!r}"
    try:
        cli.parser(name).parse_args(argv[2:])
    except SystemExit as exc:
        pytest.fail(f"{where}: stepstones {name} rejects {argv[2:]} (exit {exc.code})")


@pytest.mark.parametrize(
    ("where", "argv"),
    [c for c in _all() if c[1][0] == "python3"],
    ids=lambda v: v if isinstance(v, str) else "train_ppo_ray",
)
def test_openrlhf_commands_pass_openrlhfs_own_checks(where: str, argv: list[str]) -> None:
    values = check_openrlhf_argv(openrlhf_parser(), argv)
    assert int(str(values["rollout.n_samples_per_prompt"])) > 1, where


def test_the_check_catches_the_readme_command_of_old() -> None:
    """The control: the flags the README used to print (no n_samples_per_prompt, KL left at
    OpenRLHF's default) fail OpenRLHF's own checks, so the checks above can fail."""
    old = ["python3", "-m", "openrlhf.cli.train_ppo_ray", "--actor.model_name_or_path", "m",
           "--reward.remote_url", "http://127.0.0.1:5000/get_reward",
           "--data.prompt_dataset", "data/train.jsonl", "--data.input_key", "prompt",
           "--data.label_key", "label", "--data.apply_chat_template",
           "--algo.advantage.estimator", "dr_grpo", "--train.async_enable"]  # fmt: skip
    with pytest.raises(pytest.fail.Exception, match="requires n_samples_per_prompt > 1"):
        check_openrlhf_argv(openrlhf_parser(), old)
