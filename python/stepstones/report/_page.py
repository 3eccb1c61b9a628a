"""The report as one self-contained HTML page: figures embedded as base64 PNGs, tables beside
them, inline CSS, no script and nothing fetched, so it opens offline and can be mailed.

Every text that came from a run (teacher replies, problem messages, reasons, paths) is
HTML-escaped: a teacher may well write ``<script>``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

from stepstones.report._compute import ReportData
from stepstones.report._data import RejectionExample, RoleCost, Trajectory, YieldRow
from stepstones.report._load import Run

__all__ = ["figure_ids", "render"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1180px; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 34px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.note { color: #555; font-size: 13px; margin-top: 2px; }
.warn { background: #fff4d6; border: 1px solid #e8c66a; padding: 8px 12px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img.figure { display: block; max-width: 100%; height: auto; margin: 8px 0; }
.example { display: flex; gap: 16px; align-items: flex-start; margin: 10px 0 22px; }
.example img.figure { flex: 0 0 auto; max-width: 620px; }
.example table { flex: 1 1 auto; }
.example pre { max-height: 110px; margin-top: 3px; }
table.rejections td:nth-child(4) { min-width: 12em; max-width: 22em; }
table.rejections td:nth-child(5) { width: 55%; }
pre { white-space: pre-wrap; word-break: break-word; max-height: 260px; overflow: auto;
      background: #f7f7f7; padding: 6px; margin: 0; font-size: 11.5px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def figure_ids(data: ReportData) -> list[str]:
    """The element id of every figure of the page, in page order (also its PNG's stem)."""
    examples = [f"fig-example-{i}" for i in range(1, len(data.examples) + 1)]
    return [
        "fig-trajectories",
        *examples,
        "fig-yield",
        "fig-difficulty",
        "fig-rejections",
        "fig-cost",
    ]


def _img(fig_id: str, images: Mapping[str, bytes], alt: str) -> str:
    data = base64.b64encode(images[fig_id]).decode("ascii")
    return (
        f'<img class="figure" id="{_e(fig_id)}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'
    )


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int], css: str = ""
) -> str:
    """A table; cells are already-escaped HTML; columns in ``numeric`` align right."""
    out = [f'<table class="{css}">' if css else "<table>"]
    if any(head):
        out += ["<tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        out += [
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        ]
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _header(run: Run, data: ReportData) -> str:
    m, cfg = run.manifest, run.config
    turns = sum(len(t.points) for t in data.trajectories)
    stones = sum(t.stones for t in data.trajectories)
    viable = sum(r.viable for r in data.yields if r.turn is None)
    facts = [
        ("run directory", str(run.path)),
        ("chains", f"{len(data.trajectories)} ({turns} teacher calls, {stones} stones, "
                   f"{viable} viable)"),
    ]  # fmt: skip
    if m is not None:
        version = f", stepstones {m.stepstones_version}" if m.stepstones_version else ""
        facts += [
            ("teacher", m.teacher),
            ("student", m.student),
            ("seeds", m.seeds),
            ("modes / environments", f"{', '.join(m.modes)} / {', '.join(m.envs)}"),
            ("created", f"{m.created_at} (opened {m.opened}x{version})"),
        ]
    facts += [
        (
            "settings",
            f"M = {cfg.samples} attempts, up to {cfg.max_turns} turns, target band "
            f"{cfg.target_low:g}-{cfg.target_high:g}, viable = pass rate in "
            f"[{cfg.keep_low:g}, {cfg.keep_high:g}]",
        ),
    ]
    parts = [f"<h1>stepstones report: {_e(run.path.name)}</h1>"]
    if run.torn_tail:
        parts.append(
            '<p class="warn">This run is still being written (or was stopped mid-write): the '
            "last, partial line of chains.jsonl was left out. Run the report again for the "
            "chains finished since.</p>"
        )
    if m is None:
        parts.append(
            '<p class="warn">No manifest.json: the paper\'s default settings stand in for the '
            "keep-filter and target band.</p>"
        )
    parts.append(_table(["", ""], [[_e(k), _e(v)] for k, v in facts if v.strip(" /")], set()))
    return "".join(parts)


def _outcome(p_rate: float | None, kind: str) -> str:
    return f"{p_rate:.2f}" if p_rate is not None else f"rejected: {kind}"


def _example(number: int, t: Trajectory, images: Mapping[str, bytes]) -> str:
    rows = [
        [
            str(p.turn),
            _e(p.instruction),
            _e(_outcome(p.pass_rate, p.kind)),
            _e(p.text) + (f"<pre>{_e(p.code)}</pre>" if p.code else ""),
        ]
        for p in t.points
    ]
    table = _table(["turn", "asked", "pass rate", "problem (message, code) or reason"], rows, {0})
    caption = f"chain {_e(t.chain_id)}, seed {_e(t.seed)}"
    img = _img(f"fig-example-{number}", images, f"example chain {number}")
    return f'<div class="example">{img}<div><p class="note">{caption}</p>{table}</div></div>'


def _yield_table(rows: Sequence[YieldRow]) -> str:
    body = [
        [
            _e(r.mode),
            "all" if r.turn is None else str(r.turn),
            f"{r.viable}/{r.calls}",
            f"{r.rate:.3f}",
            f"{r.low:.3f}-{r.high:.3f}",
        ]
        for r in rows
    ]
    return _table(["mode", "turn", "viable / calls", "yield", "95 % interval"], body, {2, 3})


def _ratios(rows: Sequence[YieldRow]) -> str:
    totals = {r.mode: r for r in rows if r.turn is None}
    base = totals.get("single_turn")
    if base is None or len(totals) < 2:
        return ""
    if base.rate == 0:
        return '<p class="note">single_turn has no viable problem yet: no yield ratio.</p>'
    ratios = [
        f"{_e(m)} / single_turn = {r.rate / base.rate:.2f}x"
        for m, r in totals.items()
        if m != "single_turn"
    ]
    return f'<p class="note">Yield ratios over all turns: {"; ".join(ratios)}.</p>'


def _difficulty_table(data: ReportData) -> str:
    rows = []
    for d in data.difficulty:
        for bin_set, counts in d.bins.items():
            cells = ", ".join(f"{name} {n}" for name, n in counts.items())
            rows.append([_e(d.env), _e(bin_set), _e(cells)])
    return _table(["environment", "bin set", "problems per bin"], rows, set()) if rows else ""


def _rejection_table(examples: Sequence[RejectionExample]) -> str:
    rows = [
        [
            _e(x.kind),
            str(x.count),
            f"{_e(x.env)}, turn {x.turn}",
            _e(x.reason),
            f"<pre>{_e(x.reply)}</pre>" if x.reply else "<i>no reply recorded</i>",
        ]
        for x in examples
    ]
    head = ["kind", "count", "example from", "reason given to the teacher", "teacher's reply"]
    return _table(head, rows, {1}, css="rejections") if rows else ""


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _cost_table(rows: Sequence[RoleCost]) -> str:
    body = [
        [
            _e(r.mode),
            _e(r.role),
            str(r.requests) if r.role != "sandbox" else "",
            f"{r.prompt_tokens:,} / {r.completion_tokens:,}" if r.role != "sandbox" else "",
            f"{r.wall_s:,.2f}",
            str(r.viable),
            _number(r.per_viable_tokens, 0) if r.role != "sandbox" else "",
            _number(r.per_viable_s, 2),
        ]
        for r in rows
    ]
    head = [
        "mode",
        "role",
        "requests",
        "prompt / completion tokens",
        "wall s",
        "viable",
        "tokens per viable",
        "s per viable",
    ]
    return _table(head, body, {2, 3, 4, 5, 6, 7})


def render(run: Run, data: ReportData, images: Mapping[str, bytes]) -> str:
    """The whole page; ``images`` maps every id of :func:`figure_ids` to its PNG bytes."""
    examples = "".join(_example(i, t, images) for i, t in enumerate(data.examples, 1))
    sections = [
        _header(run, data),
        "<h2>Stepping-stone trajectories</h2>",
        '<p class="note">Each line is a chain: its measured pass rate at each turn (a stone). '
        "Rejected turns sit in the grey strip, marked by reason. The green band is the target "
        "the teacher is asked to hit.</p>",
        _img("fig-trajectories", images, "pass rate against turn for every chain"),
        "<h3>Example chains</h3>" if data.examples else "",
        examples,
        "<h2>Yield</h2>",
        '<p class="note">Viable problems (pass rate inside the keep-filter) per teacher call, '
        "with 95 % Wilson intervals.</p>",
        _img("fig-yield", images, "viable problems per teacher call"),
        _ratios(data.yields),
        _yield_table(data.yields),
        "<h2>Difficulty</h2>",
        '<p class="note">Measured pass rates per environment; the rulers above the bars are '
        "the paper's broad and stepping-stone bins.</p>",
        _img("fig-difficulty", images, "pass-rate histograms per environment"),
        _difficulty_table(data),
        "<h2>Rejections</h2>",
        _img("fig-rejections", images, "rejected turns by reason and environment"),
        _rejection_table(data.rejection_examples),
        "<h2>Cost</h2>",
        '<p class="note">Tokens and wall time per viable problem, per role. Wall time is work '
        "summed over turns (turns overlap), not the run's duration.</p>",
        _img("fig-cost", images, "tokens and seconds per viable problem"),
        _cost_table(data.costs),
    ]
    title = f"stepstones report: {_e(run.path.name)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )
