"""The briefing's pictures, drawn with matplotlib and returned as PNG bytes.

The briefing is one self-contained HTML file that must open on a machine with
no network, so every picture is a PNG embedded as a ``data:`` URI
(:func:`data_uri`). Colours are chosen to stay readable when printed in grey
(sequential, light to dark) and each chart says in words what it shows.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.patches import PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

DPI = 100
OUTLINE_FILL = "#eef0f2"
OUTLINE_EDGE = "#6b7280"
ACCENT = "#b91c1c"
MUTED = "#6b7280"
CMAP = "YlOrRd"


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI for an ``<img src>``: no file, no network."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _polygon_path(geom) -> MplPath | None:
    """A matplotlib path of a (multi)polygon, holes included (even-odd fill)."""
    polys = [geom] if geom.geom_type == "Polygon" else list(getattr(geom, "geoms", []))
    verts, codes = [], []
    for poly in polys:
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            if len(xy) < 3:
                continue
            verts.append(xy)
            codes.append(np.r_[MplPath.MOVETO, np.full(len(xy) - 2, MplPath.LINETO), MplPath.CLOSEPOLY])
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes).astype(np.uint8))


def _add_geometry(ax, geom, **style) -> None:
    path = _polygon_path(geom)
    if path is not None:
        ax.add_patch(PathPatch(path, **style))


def _scale_bar(ax, xmin: float, xmax: float, ymin: float, ymax: float) -> None:
    """A round-length scale bar in the lower left (coordinates in metres, BNG)."""
    span = xmax - xmin
    target = span / 5
    length = min((v for v in (500, 1000, 2000, 5000, 10000, 20000, 50000) if v >= target), default=50000)
    x0 = xmin + span * 0.04
    y0 = ymin + (ymax - ymin) * 0.04
    ax.plot([x0, x0 + length], [y0, y0], color="#111827", linewidth=3, solid_capstyle="butt")
    ax.text(x0 + length / 2, y0 + (ymax - ymin) * 0.015, f"{length / 1000:g} km", ha="center", va="bottom", fontsize=9)


def hotspot_map(outline, top: pd.DataFrame, title: str, legend_label: str, label_top: int = 10) -> bytes:
    """The force area in grey with the top cells coloured by predicted count.

    ``outline``: a shapely geometry (EPSG:27700) or ``None``; ``top``: rows
    with ``geometry_wkt`` (EPSG:27700), ``predicted_count`` and ``rank``. The
    ``label_top`` best-ranked cells carry their rank, matching the table.
    """
    fig, ax = plt.subplots(figsize=(7.2, 7.2))
    geoms = shapely.from_wkt(top["geometry_wkt"].to_numpy()) if len(top) else np.array([])
    bounds = None
    if outline is not None and not outline.is_empty:
        _add_geometry(ax, outline, facecolor=OUTLINE_FILL, edgecolor=OUTLINE_EDGE, linewidth=0.8, zorder=1)
        bounds = outline.bounds
    if len(top):
        values = top["predicted_count"].to_numpy(dtype="float64")
        vmax = float(values.max()) if values.max() > 0 else 1.0
        norm = Normalize(vmin=0.0, vmax=vmax)
        cmap = plt.get_cmap(CMAP)
        # Start the colour ramp at 35 % so the lowest top cell still stands out from the grey area.
        colours = cmap(0.35 + 0.65 * norm(values))
        for geom, colour in zip(geoms, colours, strict=True):
            _add_geometry(ax, geom, facecolor=colour, edgecolor="#7f1d1d", linewidth=0.5, zorder=2)
        cells_bounds = shapely.union_all(geoms).bounds
        bounds = cells_bounds if bounds is None else (
            min(bounds[0], cells_bounds[0]), min(bounds[1], cells_bounds[1]),
            max(bounds[2], cells_bounds[2]), max(bounds[3], cells_bounds[3]),
        )
        order = np.argsort(top["rank"].to_numpy())[:label_top]
        for i in order:
            c = geoms[i].centroid
            ax.annotate(
                str(int(top["rank"].iloc[i])), (c.x, c.y), xytext=(4, 4), textcoords="offset points",
                fontsize=8, fontweight="bold", color="#111827", zorder=4,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "#7f1d1d", "linewidth": 0.5, "alpha": 0.9},
            )
        sm = plt.cm.ScalarMappable(cmap=matplotlib.colors.ListedColormap(cmap(np.linspace(0.35, 1.0, 256))), norm=norm)
        bar = fig.colorbar(sm, ax=ax, orientation="horizontal", fraction=0.045, pad=0.03)
        bar.set_label(legend_label, fontsize=10)
    if bounds is None:
        ax.text(0.5, 0.5, "no cells to show", ha="center", va="center", transform=ax.transAxes, color=MUTED)
    else:
        xmin, ymin, xmax, ymax = bounds
        pad = max(xmax - xmin, ymax - ymin) * 0.03 + 1.0
        ax.set_xlim(xmin - pad, xmax + pad)
        ax.set_ylim(ymin - pad, ymax + pad)
        _scale_bar(ax, xmin - pad, xmax + pad, ymin - pad, ymax + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=12, loc="left")
    return to_png(fig)


def weekly_trend(weeks: pd.DataFrame, title: str, ylabel: str, incomplete_from=None) -> bytes:
    """Weekly counts (``week_start``, ``n``) as bars with a 4-week rolling mean line.

    ``incomplete_from``: weeks from this date on are still filling up
    (crimes are recorded days after they happen) and are drawn lighter.
    """
    fig, ax = plt.subplots(figsize=(11.5, 2.9))
    if len(weeks):
        x = pd.to_datetime(weeks["week_start"])
        y = weeks["n"].to_numpy(dtype="float64")
        colours = ["#9ca3af"] * len(x)
        if incomplete_from is not None:
            colours = ["#d1d5db" if d >= pd.Timestamp(incomplete_from) else "#9ca3af" for d in x]
        ax.bar(x, y, width=5.5, color=colours, label="crimes committed in the week")
        roll = pd.Series(y).rolling(4, min_periods=1).mean()
        ax.plot(x, roll, color=ACCENT, linewidth=2, label="4-week average")
        ax.legend(loc="upper left", fontsize=9, frameon=False, ncols=2)
        ax.set_ylim(0, max(1.0, float(y.max()) * 1.25))
    else:
        ax.text(0.5, 0.5, "no crimes in the last 12 months", ha="center", va="center", transform=ax.transAxes, color=MUTED)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=9)
    return to_png(fig)


def band_bars(counts: pd.DataFrame, title: str) -> bytes:
    """Offenders per harm band (``label``, ``n``), horizontal bars in band order."""
    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    labels = list(counts["label"])[::-1]
    values = counts["n"].to_numpy(dtype="float64")[::-1]
    shades = plt.get_cmap("Blues")(np.linspace(0.3, 0.9, max(1, len(values))))
    ax.barh(labels, values, color=shades)
    for i, v in enumerate(values):
        ax.text(v, i, f" {int(v):,}", va="center", fontsize=9)
    ax.set_xlim(0, max(1.0, float(values.max()) * 1.18) if len(values) else 1.0)
    ax.set_title(title, fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=9)
    ax.set_xlabel("offenders", fontsize=9)
    return to_png(fig)


def backtest_lines(per_origin: pd.DataFrame, title: str, ylabel: str) -> bytes:
    """Hit rate per backtest forecast date (``forecast_date``, ``model``, ``value``), one line per model.

    Fixed figure size and a legend under the plot, so the charts of both
    targets have the same size side by side and no line hides under the legend."""
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    palette = [ACCENT, "#2563eb", "#059669", "#9333ea", "#d97706"]
    for (model, g), colour in zip(per_origin.groupby("model", sort=False), palette * 4, strict=False):
        g = g.sort_values("forecast_date")
        ax.plot(pd.to_datetime(g["forecast_date"]), g["value"], label=model, color=colour,
                linewidth=2.4 if colour == ACCENT else 1.3)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%b %y"))
    ax.set_title(title, fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    fig.legend(fontsize=8, frameon=False, loc="lower center", ncols=3)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    plt.close(fig)
    return buf.getvalue()
