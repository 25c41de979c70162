"""Calibration plot and lift chart of the rolling-origin test predictions, as PNG.

Both pool every test week. The figures are returned as PNG bytes and as a
markdown image with the PNG inlined (base64), which is how Dagster shows a
plot in asset metadata and how the model card embeds it.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wmp_pipeline.evaluation.classification import calibration_table, lift_table, precision_at_k  # noqa: E402

COLOURS = {"xgboost": "#1b6ca8", "logistic": "#e07b39", "harm_score": "#6a6a6a"}
LABELS = {"xgboost": "xgboost (calibrated)", "logistic": "logistic baseline", "harm_score": "rank by current harm score"}


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()




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


def caseload_lift(predictions: pd.DataFrame, ks) -> pd.DataFrame:
    """Mean over test weeks of precision in the top k and its lift over the week's base rate, per model."""
    rows = []
    for (model, week), g in predictions.groupby(["model", "test_week"]):
        y = g["label"].to_numpy(int)
        s = g["score"].to_numpy(float)
        base = y.mean()
        for k in ks:
            if k <= len(y):
                p = precision_at_k(y, s, k)
                rows.append({"model": model, "test_week": week, "k": k, "precision": p, "lift": p / base if base else np.nan})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.groupby(["model", "k"])[["precision", "lift"]].mean().reset_index()


def lift_png(predictions: pd.DataFrame, caseloads=(100, 250, 500)) -> bytes:
    """Left: cumulative gains. Right: lift in the top k people each week (k on a log scale)."""
    fig, (gain_ax, lift_ax) = plt.subplots(1, 2, figsize=(10.4, 4.4))
    for model in ("xgboost", "logistic", "harm_score"):
        g = predictions[predictions["model"] == model]
        if g.empty or g["label"].sum() == 0:
            continue
        gains = lift_table(g["label"].to_numpy(int), g["score"].to_numpy(float), n_bins=50)
        x = np.r_[0.0, gains["cumulative_share"].to_numpy()]
        y = np.r_[0.0, gains["cumulative_recall"].to_numpy()]
        gain_ax.plot(x, y, "-", color=COLOURS[model], label=LABELS[model])
    gain_ax.plot([0, 1], [0, 1], ":", color="black", label="random order")
    gain_ax.set_xlabel("share of eligible offenders reviewed, highest score first")
    gain_ax.set_ylabel("share of those who became high harm")
    gain_ax.set_title("Cumulative gains over the test weeks")
    gain_ax.legend(loc="lower right", fontsize=8)

    per_week = predictions[predictions["model"] == "xgboost"].groupby("test_week").size()
    n = int(per_week.min()) if len(per_week) else 0
    ks = sorted({int(k) for k in np.unique(np.round(np.logspace(1, np.log10(max(n, 11)), 25)))} | set(caseloads))
    lift = caseload_lift(predictions, [k for k in ks if k <= n])
    for model in ("xgboost", "logistic", "harm_score"):
        m = lift[lift["model"] == model] if len(lift) else lift
        if len(m):
            lift_ax.plot(m["k"], m["lift"], "-", color=COLOURS[model], label=LABELS[model])
    for k in caseloads:
        lift_ax.axvline(k, color="#999999", lw=0.8)
        lift_ax.text(k, lift_ax.get_ylim()[0], f" top {k}", fontsize=7, rotation=90, va="bottom")
    lift_ax.axhline(1.0, ls=":", color="black")
    lift_ax.set_xscale("log")
    lift_ax.set_xlabel("caseload: people reviewed each week (highest score first)")
    lift_ax.set_ylabel("lift: escalation rate in the caseload / overall rate")
    lift_ax.set_title("Lift by caseload (mean over test weeks)")
    lift_ax.legend(loc="upper right", fontsize=8)
    return _png(fig)
