"""What a cross-band run moved, for the page: the loss table for a chart, and the figure and sentence comparing the
Gram distance to the style before and after and the display-value histograms of content, style and result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go  # noqa: TID253 - the cross-band page's figures; app.py preloads plotly for every page
from plotly.subplots import make_subplots  # noqa: TID253 - as above

from core.crossband.generate import loss_log_rows

if TYPE_CHECKING:
    import pandas as pd

COLOURS = {"content": "#888", "style": "#1f77b4", "result": "#ff4b4b"}


def loss_frame(history: list, style_weight: float, content_weight: float) -> pd.DataFrame:
    """Weighted losses per step on a log10 scale, indexed by step (a table for a line chart)."""
    import pandas as pd  # noqa: PLC0415  heavy (about 0.5 s): only a run's chart needs it, not the page's first render

    return pd.DataFrame(loss_log_rows(history, style_weight, content_weight)).set_index("step")


def transfer_figure(before: float, after: float | None, stats: dict[str, dict[str, Any]]) -> go.Figure:
    """Gram distance to the style at the start (`before`) and at the end (`after`, None when it could not be
    computed) on a log axis, beside the value histograms of `stats` (core.crossband.value_histograms)."""
    fig = make_subplots(
        rows=1, cols=2, column_widths=[0.3, 0.7], subplot_titles=["Gram distance to the style", "Display values"]
    )
    if after is not None:
        fig.add_trace(
            go.Bar(x=["content (start)", "result"], y=[before, after], marker_color=[COLOURS["content"],
                   COLOURS["result"]], showlegend=False, hovertemplate="%{x}: %{y:.3g}<extra></extra>"),
            row=1, col=1,
        )  # fmt: skip
        fig.update_yaxes(type="log", row=1, col=1)
    for name, s in stats.items():
        fig.add_trace(
            go.Scatter(x=s["centres"], y=s["fraction"], mode="lines", line_shape="hvh", name=name,
                       line=dict(color=COLOURS.get(name, "#444"))),
            row=1, col=2,
        )  # fmt: skip
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def transfer_caption(before: float, after: float | None, stats: dict[str, dict[str, Any]]) -> str:
    """The figure in one sentence: how much closer to the style, each image's mean and spread, and the result's
    correlation with the content."""
    parts = [f"{n}: mean {s['mean']:.1f}, std {s['std']:.1f}" for n, s in stats.items()]
    corr = stats["result"]["corr_with_content"]
    moved = f"Gram distance {before:.3g} → {after:.3g} ({before / max(after, 1e-30):.0f}× closer)" if after else ""
    return (
        f"{moved}. "
        + "; ".join(parts)
        + (f". Correlation of the result with the content: {corr:.3f}" if corr else "")
        + " (1 = unchanged). See the README on what to expect."
    )
