"""Calibration plot and lift chart of the rolling-origin test predictions, as PNG.

Both pool every test week. The figures are returned as PNG bytes and as a
markdown image with the PNG inlined (base64), which is how Dagster shows a
plot in asset metadata and how the model card embeds it.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wmp_pipeline.evaluation.classification import calibration_table, lift_table  # noqa: E402

COLOURS = {"xgboost": "#1b6ca8", "logistic": "#e07b39", "harm_score": "#6a6a6a"}
LABELS = {"xgboost": "xgboost (calibrated)", "logistic": "logistic baseline", "harm_score": "rank by current harm score"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def calibration_png(predictions: pd.DataFrame, n_bins: int = 10) -> bytes:
    """Mean predicted probability vs observed rate (quantile bins) per calibrated model."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    top = 0.0
    for model in ("xgboost", "logistic"):
        g = predictions[(predictions["model"] == model) & predictions["probability"].notna()]
        if g.empty:
            continue
        cal = calibration_table(g["label"].to_numpy(int), g["probability"].to_numpy(float), n_bins=n_bins)
        ax.plot(cal["mean_predicted"], cal["observed_rate"], "o-", color=COLOURS[model], label=LABELS[model])
        top = max(top, float(cal["mean_predicted"].max()), float(cal["observed_rate"].max()))
    top = min(1.0, top * 1.05 + 1e-3)
    ax.plot([0, top], [0, top], ":", color="black", label="perfect calibration")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("mean predicted probability (decile of predictions)")
    ax.set_ylabel("observed share becoming high harm")
    ax.set_title("Calibration over the test weeks")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def lift_png(predictions: pd.DataFrame, caseloads=(100, 250, 500)) -> bytes:
    """Cumulative share of escalations found vs share of eligible people reviewed, per model."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for model in ("xgboost", "logistic", "harm_score"):
        g = predictions[predictions["model"] == model]
        if g.empty or g["label"].sum() == 0:
            continue
        gains = lift_table(g["label"].to_numpy(int), g["score"].to_numpy(float), n_bins=50)
        x = np.r_[0.0, gains["cumulative_share"].to_numpy()]
        y = np.r_[0.0, gains["cumulative_recall"].to_numpy()]
        ax.plot(x, y, "-", color=COLOURS[model], label=LABELS[model])
    ax.plot([0, 1], [0, 1], ":", color="black", label="random order")
    per_week = predictions[predictions["model"] == "xgboost"].groupby("test_week").size()
    if len(per_week):
        n = float(per_week.mean())
        for k in caseloads:
            if k < n:
                ax.axvline(k / n, color="#999999", lw=0.8)
                ax.text(k / n, 0.02, f" top {k}", fontsize=7, rotation=90, va="bottom")
    ax.set_xlabel("share of eligible offenders reviewed, highest score first")
    ax.set_ylabel("share of those who became high harm")
    ax.set_title("Cumulative gains (lift) over the test weeks")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)
