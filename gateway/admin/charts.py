"""Charts drawn on the server as SVG: no chart library, no script, nothing to vendor.

Annotations (admins' dated notes) are marked on the line chart.

Why SVG from Python rather than a vendored library (uPlot, Chart.js): the
dashboard needs one kind of chart (a line over time, with the previous period
beside it), which is forty lines here; the page then works without
JavaScript, passes a strict Content-Security-Policy (presentation attributes,
no inline style), shows in screenshots and printouts exactly as on screen, and
can be tested by reading the markup. Nothing must be fetched, updated or
licence-tracked.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

WIDTH, HEIGHT = 800, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def _nice_top(value: float) -> float:
    """The chart's top: four gridline steps of 1, 2, 2.5 or 5 x 10^n, whole numbers.

    ``_nice_top(5)`` is 8 (steps of 2), ``_nice_top(1251)`` is 2000 (steps of 500).
    """
    wanted = max(value, 1) / 4
    magnitude = 10 ** max(len(str(int(wanted))) - 1, 0)
    steps = (1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)
    step = next(s * magnitude for s in steps if s * magnitude >= wanted)
    return float(step * 4)


def _points(values: Sequence[float], top: float) -> str:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(values) - 1, 1)
    return " ".join(
        f"{LEFT + inner_w * i / count:.1f},{TOP + inner_h * (1 - value / top):.1f}"
        for i, value in enumerate(values)
    )


def line_chart(
    labels: Sequence[str],
    values: Sequence[float],
    previous: Sequence[float] | None = None,
    *,
    title: str,
    marks: Sequence[tuple[int, str]] = (),
) -> str:
    """An SVG line chart of ``values`` (and ``previous``, dashed) under ``labels``.

    ``marks`` are annotations: (index of a label, text), each drawn as a dotted
    vertical line with a dot on top, its text the tooltip (an SVG ``<title>``).
    """
    top = _nice_top(max([*values, *(previous or []), 0]))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
    ]
    inner_h = HEIGHT - TOP - BOTTOM
    for step in range(5):
        y = TOP + inner_h * step / 4
        value = top * (4 - step) / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e3e6ea" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#5b6470">{value:g}</text>'
        )
    shown = max(1, len(labels) // 8)
    inner_w = WIDTH - LEFT - RIGHT
    count = max(len(labels) - 1, 1)
    for i, label in enumerate(labels):
        if i % shown == 0:
            x = LEFT + inner_w * i / count
            anchor = "end" if i == len(labels) - 1 else "start" if i == 0 else "middle"
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11" '
                f'fill="#5b6470">{html.escape(_short(label))}</text>'
            )
    for at, text in marks:
        x = LEFT + inner_w * at / count
        parts.append(
            f'<g class="annotation"><title>{html.escape(text)}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + inner_h}" stroke="#d97706" '
            'stroke-width="1.5" stroke-dasharray="2 3"/>'
            f'<circle cx="{x:.1f}" cy="{TOP}" r="4" fill="#d97706"/></g>'
        )
    if previous:
        parts.append(
            f'<polyline points="{_points(previous, top)}" fill="none" stroke="#9aa5b1" '
            'stroke-width="2" stroke-dasharray="5 4" class="previous"/>'
        )
    if values:
        parts.append(
            f'<polyline points="{_points(values, top)}" fill="none" stroke="#2563eb" '
            'stroke-width="2.5" class="current"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str) -> str:
    """``2026-11-22 14:00:00`` -> ``14:00``; ``2026-11-22`` -> ``11-22``."""
    if " " in label:
        return label.split(" ")[1][:5]
    return label[5:] if len(label) == 10 else label
