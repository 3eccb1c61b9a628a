"""The report's figures, drawn with matplotlib from the records of :mod:`._data`.

Figures are built as :class:`matplotlib.figure.Figure` objects and never through pyplot, so
no GUI backend is chosen and nothing global changes: PNGs are rendered by the Agg canvas.
Every function returns a figure even when there is nothing to plot (it then says so in the
axes), so a report of a run that has just started still has every figure.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from stepstones.dataset import BIN_SETS
from stepstones.pipeline import Config
from stepstones.report._data import (
    DIFFICULTY_BINS,
    Difficulty,
    RejectionCount,
    RoleCost,
    Trajectory,
    YieldRow,
)

__all__ = [
    "cost_figure",
    "difficulty_figure",
    "example_figure",
    "png",
    "rejections_figure",
    "trajectories_figure",
    "yield_figure",
]

DPI = 100
#: Rejections are drawn in a strip below pass rate 0, at this height.
REJECTION_Y = -0.12
MODE_COLOURS = {"adaptive": "#1f77b4", "top_down": "#9467bd", "single_turn": "#ff7f0e"}
ENV_COLOURS = {
    "induction": "#4c72b0",
    "abduction": "#dd8452",
    "deduction": "#55a868",
    "fuzzing": "#c44e52",
}
KIND_MARKERS = {
    "format": "x",
    "banned": "s",
    "error": "D",
    "timeout": "v",
    "not_literal": "P",
    "nondeterministic": "*",
    "witness": "^",
    "duplicate": "o",
    "trivial": "d",
    "llm": "X",
    "unmeasured": "h",
}
KIND_COLOURS = {
    "format": "#d62728",
    "banned": "#8c564b",
    "error": "#e377c2",
    "timeout": "#7f7f7f",
    "not_literal": "#bcbd22",
    "nondeterministic": "#17becf",
    "witness": "#9467bd",
    "duplicate": "#ff7f0e",
    "trivial": "#7b4173",
    "llm": "#000000",
    "unmeasured": "#aaaaaa",
}
_TARGET_COLOUR = "#2ca02c"
_ROLE_COLOURS = {"teacher": "#1f77b4", "student": "#2ca02c", "sandbox": "#7f7f7f"}
_BIN_COLOURS = {"easy": "#2ca02c", "easy_medium": "#98df8a", "medium": "#ffbf00", "hard": "#d62728"}


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg canvas, ``DPI`` dots per inch)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _colour(table: dict[str, str], key: str) -> str:
    return table.get(key, "#333333")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _nothing(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _pass_rate_axes(ax: Axes, config: Config, max_turn: int) -> None:
    low, high = config.target_low, config.target_high
    ax.axhspan(low, high, color=_TARGET_COLOUR, alpha=0.13, lw=0)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.axhspan(REJECTION_Y - 0.06, REJECTION_Y + 0.06, color="#f3f3f3", lw=0)
    ax.set_ylim(REJECTION_Y - 0.09, 1.1)
    ax.set_xlim(-0.4, max_turn + 0.4)
    ax.set_xticks(range(max_turn + 1))
    ax.set_yticks(
        [REJECTION_Y, 0, 0.25, 0.5, 0.75, 1.0], ["rejected", "0", ".25", ".5", ".75", "1"]
    )
    ax.set_xlabel("turn")
    ax.grid(axis="y", color="#e5e5e5", lw=0.5)


def _draw_chain(
    ax: Axes, t: Trajectory, dx: float, colour: str, *, size: float, alpha: float, labels: bool
) -> set[str]:
    """Draw one chain; returns the rejection kinds it used."""
    stones = [(p.turn + dx, p.pass_rate) for p in t.points if p.pass_rate is not None]
    if stones:
        xs, ys = zip(*stones, strict=True)
        ax.plot(xs, ys, "-", color=colour, lw=0.8 if not labels else 1.6, alpha=alpha)
        ax.scatter(xs, ys, s=size, color=colour, alpha=alpha, zorder=3, edgecolors="white")
    kinds = set()
    for p in t.points:
        if labels:
            y = p.pass_rate if p.pass_rate is not None else REJECTION_Y
            ax.annotate(
                f"{p.turn}: {p.instruction}",
                (p.turn + dx, y),
                textcoords="offset points",
                xytext=(4, 7),
                fontsize=7,
                color="#333333",
            )
        if p.pass_rate is not None:
            continue
        kinds.add(p.kind)
        marker = KIND_MARKERS.get(p.kind, "o")
        ax.scatter(
            [p.turn + dx],
            [REJECTION_Y],
            s=size,
            marker=marker,
            color=_colour(KIND_COLOURS, p.kind),
            alpha=min(1.0, alpha + 0.3),
            zorder=3,
            facecolors="none" if marker == "o" else None,
        )
    return kinds


def _kind_legend(ax: Axes, kinds: set[str], config: Config, stone_colour: str) -> None:
    band = f"target band {config.target_low:g}-{config.target_high:g}"
    handles: list[Any] = [
        Patch(color=_TARGET_COLOUR, alpha=0.25, label=band),
        ax.scatter([], [], s=30, color=stone_colour, label="stone (measured)"),
    ]
    for kind in sorted(kinds):
        marker = KIND_MARKERS.get(kind, "o")
        handles.append(
            ax.scatter(
                [],
                [],
                s=30,
                marker=marker,
                color=_colour(KIND_COLOURS, kind),
                facecolors="none" if marker == "o" else None,
                label=f"rejected: {kind}",
            )
        )
    # Outside the axes, right of them: never over a point.
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def trajectories_figure(trajs: Sequence[Trajectory], config: Config) -> Figure:
    """Every chain's pass rate against turn, one panel per mode; rejections in the bottom strip
    marked by kind; the target band of the harder/easier prompts shaded."""
    modes = sorted({t.mode for t in trajs}) or ["(no chains yet)"]
    fig = Figure(figsize=(4.2 * len(modes) + 0.8, 4.2), layout="constrained")
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    max_turn = max((p.turn for t in trajs for p in t.points), default=config.max_turns - 1)
    all_kinds: set[str] = set()
    for ax, mode in zip(axes, modes, strict=True):
        chains = [t for t in trajs if t.mode == mode]
        if not chains:
            _nothing(ax, "no chains stored yet")
            continue
        _pass_rate_axes(ax, config, max_turn)
        kinds: set[str] = set()
        for i, t in enumerate(chains):
            # A small fixed offset per chain keeps equal points of different chains apart.
            dx = ((i % 9) - 4) * 0.035
            kinds |= _draw_chain(
                ax, t, dx, _colour(MODE_COLOURS, mode), size=18, alpha=0.45, labels=False
            )
        stones = sum(t.stones for t in chains)
        ax.set_title(
            f"{mode}: {_count(len(chains), 'chain')}, {_count(stones, 'stone')}", fontsize=10
        )
        all_kinds |= kinds
    axes[0].set_ylabel("pass rate")
    _kind_legend(axes[-1], all_kinds, config, "#555555")
    return fig


def example_figure(t: Trajectory, config: Config, number: int) -> Figure:
    """One chain drawn large, each turn labelled with its index and instruction."""
    fig = Figure(figsize=(6.2, 3.8), layout="constrained")
    ax = fig.subplots()
    max_turn = max((p.turn for p in t.points), default=0)
    _pass_rate_axes(ax, config, max(max_turn, 1))
    ax.set_xlim(-0.4, max(max_turn, 1) + 0.8)  # room for the last turn's label
    kinds = _draw_chain(ax, t, 0.0, _colour(MODE_COLOURS, t.mode), size=60, alpha=1.0, labels=True)
    _kind_legend(ax, kinds, config, _colour(MODE_COLOURS, t.mode))
    ax.set_ylabel("pass rate")
    ax.set_title(f"example {number}: {t.env} / {t.mode}, {_count(t.stones, 'stone')}", fontsize=10)
    return fig


def yield_figure(rows: Sequence[YieldRow]) -> Figure:
    """Viable problems per teacher call with Wilson 95 % intervals: per turn (left) and over
    all turns (right), one colour per mode."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[2.2, 1])
    modes = sorted({r.mode for r in rows})
    if not modes:
        _nothing(left, "no chains stored yet")
        _nothing(right, "no chains stored yet")
        return fig
    top = max(0.05, *(r.high for r in rows)) * 1.15
    for k, mode in enumerate(modes):
        colour = _colour(MODE_COLOURS, mode)
        per_turn = [r for r in rows if r.mode == mode and r.turn is not None]
        dx = (k - (len(modes) - 1) / 2) * 0.18
        xs = [(r.turn or 0) + dx for r in per_turn]
        ys = [r.rate for r in per_turn]
        err = [[r.rate - r.low for r in per_turn], [r.high - r.rate for r in per_turn]]
        left.errorbar(xs, ys, yerr=err, fmt="o-", color=colour, capsize=3, label=mode, lw=1.2)
        for x, r in zip(xs, per_turn, strict=True):
            left.annotate(
                f"{r.viable}/{r.calls}",
                (x, r.rate),
                textcoords="offset points",
                xytext=(3, -11),
                fontsize=7,
                color=colour,
            )
        total = next(r for r in rows if r.mode == mode and r.turn is None)
        right.bar(k, total.rate, color=colour, alpha=0.8)
        right.errorbar(
            [k],
            [total.rate],
            yerr=[[total.rate - total.low], [total.high - total.rate]],
            color="black",
            capsize=5,
        )
        right.text(k, total.high + top * 0.02, f"{total.viable}/{total.calls}", ha="center")
    left.set_xlabel("turn")
    left.set_ylabel("viable problems per teacher call")
    left.set_title("per turn (95 % Wilson intervals)", fontsize=10)
    left.set_ylim(0, top)
    left.set_xticks(sorted({r.turn for r in rows if r.turn is not None}))
    left.legend(fontsize=8)
    left.grid(axis="y", color="#e5e5e5", lw=0.5)
    right.set_xticks(range(len(modes)), modes)
    right.set_ylim(0, top)
    right.set_title("all turns", fontsize=10)
    right.grid(axis="y", color="#e5e5e5", lw=0.5)
    return fig


def _bin_ruler(ax: Axes, y: float, name: str) -> None:
    for b in BIN_SETS[name].bins:
        colour = _BIN_COLOURS.get(b.name, "#777777")
        ax.plot([b.low, b.high], [y, y], color=colour, lw=5, solid_capstyle="butt")
        label = b.name.replace("_", "-")
        ax.text((b.low + b.high) / 2, y, label, ha="center", va="bottom", fontsize=6.5)
    ax.text(1.01, y, f"{name}\nbins", ha="left", va="center", fontsize=7)


def difficulty_figure(rows: Sequence[Difficulty]) -> Figure:
    """Pass-rate histogram per environment, with the paper's chain and broad bins drawn as
    rulers above the bars (docs/design.md §4)."""
    n = max(1, len(rows))
    cols = min(n, 2)
    lines = (n + cols - 1) // cols
    fig = Figure(figsize=(5.4 * cols, 3.4 * lines), layout="constrained")
    axes = fig.subplots(lines, cols, squeeze=False).ravel()
    if not rows:
        _nothing(axes[0], "no measured problems yet")
    width = 1 / DIFFICULTY_BINS
    for ax, row in zip(axes, rows, strict=False):
        top = max(1, *row.counts)
        edges = [i * width for i in range(DIFFICULTY_BINS)]
        ax.bar(edges, row.counts, width=width, align="edge", color=_colour(ENV_COLOURS, row.env))
        _bin_ruler(ax, top * 1.18, "broad")
        _bin_ruler(ax, top * 1.42, "chain")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, top * 1.62)
        ax.set_xlabel("measured pass rate")
        ax.set_ylabel("problems")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{row.env}: {_count(len(row.pass_rates), 'measured problem')}", fontsize=10)
    for ax in axes[len(rows) :]:
        if rows:
            ax.set_axis_off()
    return fig


def rejections_figure(rows: Sequence[RejectionCount]) -> Figure:
    """Rejected turns by kind (bars), stacked by environment."""
    kinds = list(dict.fromkeys(r.kind for r in rows))
    fig = Figure(figsize=(8, 0.9 + 0.45 * max(2, len(kinds))), layout="constrained")
    ax = fig.subplots()
    if not rows:
        _nothing(ax, "no rejected turns")
        return fig
    envs = sorted({r.env for r in rows})
    left = [0] * len(kinds)
    for env in envs:
        counts = [sum(r.count for r in rows if r.kind == k and r.env == env) for k in kinds]
        ax.barh(kinds, counts, left=left, color=_colour(ENV_COLOURS, env), label=env)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    for y, total in enumerate(left):
        ax.text(total, y, f" {total}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rejected turns")
    ax.set_xlim(0, max(left) * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def cost_figure(rows: Sequence[RoleCost]) -> Figure:
    """Tokens (left) and wall seconds (right) per viable problem, per role and mode; a mode
    with no viable problem is marked instead of drawn (its cost is unbounded)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    modes = list(dict.fromkeys(r.mode for r in rows))
    if not rows:
        _nothing(left, "no chains stored yet")
        _nothing(right, "no chains stored yet")
        return fig
    panels = [
        (left, ("teacher", "student"), "per_viable_tokens", "tokens per viable problem"),
        (right, ("teacher", "student", "sandbox"), "per_viable_s", "seconds per viable problem"),
    ]
    for ax, roles, field, title in panels:
        width = 0.8 / len(roles)
        for i, mode in enumerate(modes):
            if all(r.viable == 0 for r in rows if r.mode == mode):
                ax.text(i, 0, "no viable\nproblem", ha="center", va="bottom", fontsize=7)
        for j, role in enumerate(roles):
            for i, mode in enumerate(modes):
                row = next(r for r in rows if r.mode == mode and r.role == role)
                value = getattr(row, field)
                x = i + (j - (len(roles) - 1) / 2) * width
                if value is None:
                    continue
                label = role if i == 0 else None
                ax.bar(x, value, width=width, color=_ROLE_COLOURS[role], label=label)
        ax.set_xticks(range(len(modes)), modes)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", color="#e5e5e5", lw=0.5)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig
