"""Model performance against the baselines, from the backtests."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from wmp_pipeline.reports import charts, metrics
from wmp_pipeline.reports.briefing.model import TARGETS, Cell, Section, Table, Target
from wmp_pipeline.reports.formatting import fmt_num, fmt_pct, fmt_value
from wmp_pipeline.reports.tables import Unavailable


def hotspot_performance(con: duckdb.DuckDBPyConnection, forecast_date: date) -> Section:
    section = Section(anchor="performance-hotspot", title="Hotspot maps: backtest against the baselines")
    bt = metrics.hotspot_backtest(con, forecast_date)
    if isinstance(bt, Unavailable):
        section.unavailable = str(bt)
        return section
    span = (
        f" over {bt.n_origins} past forecast dates ({fmt_value(bt.first_origin)} to {fmt_value(bt.last_origin)})"
        if bt.n_origins else ""
    )
    section.intro = (
        "Each past week's map is judged on the crimes that then happened: the hit rate is the share of them that fell "
        "in the flagged cells, the PAI (Predictive Accuracy Index) is that share divided by the share of area flagged "
        f"(1 = no better than chance). Baselines are what an analyst's map of recent crime would have shown{span}."
    )
    columns = ["Target", "Model"] + [f"{h} @ {share_label(s)} area" for s in bt.shares for h in ("Hit rate", "PAI")]
    rows, headlines = [], []
    for target in TARGETS:
        t = bt.overall[bt.overall["target"] == target.code]
        if t.empty:
            continue
        for model in sorted(t["model"].unique(), key=model_order):
            m = t[t["model"] == model]
            row = [Cell(target.title), Cell(model_label(model), "strong" if metrics.is_model(model) else "")]
            for s in bt.shares:
                hit = metrics.at_share(m, s)
                row += [Cell(fmt_pct(hit["hit_rate"].iloc[0], 1) if len(hit) else "–"),
                        Cell(fmt_num(hit["pai"].iloc[0], 1) if len(hit) else "–")]
            rows.append(row)
        sentence, short = verdict(t, target, bt.shares[0])
        if sentence:
            section.notes.append(sentence)
            headlines.append(short)
    if headlines:
        section.headline = f"Backtest, share of crimes in the top {share_label(bt.shares[0])} of the area: " + "; ".join(headlines) + "."
    section.tables.append(Table(columns, rows, numeric=set(range(2, len(columns))),
                                caption="Pooled over the backtest's forecast dates. 'ceiling' uses the synthetic generator's "
                                "true intensities (evaluation only) and shows the best any map could do."))
    if "forecast_date" in bt.per_origin and len(bt.per_origin):
        share = bt.shares[0]
        for target in TARGETS:
            p = metrics.at_share(bt.per_origin[bt.per_origin["target"] == target.code], share)
            if p.empty:
                continue
            lines = rolling_hit_rate(p)
            lines = lines.sort_values("model", key=lambda c: c.map(model_order), kind="stable")
            lines = lines.assign(model=lines["model"].map(model_label))
            png = charts.backtest_lines(
                lines, title=f"{target.title}: hit rate @ {share_label(share)} of area", ylabel="hit rate, pooled over 8 weeks"
            )
            section.images.append({"src": charts.data_uri(png), "alt": f"Backtest hit rate, {target.title.lower()}",
                                   "css": "half", "role": "backtest"})
    return section


def rolling_hit_rate(per_origin: pd.DataFrame, weeks: int = 8) -> pd.DataFrame:
    """Hit rate per model pooled over the last ``weeks`` forecast dates (``forecast_date, model, value``).

    Pooling hits over crimes (rather than averaging weekly rates) gives weeks
    with more crimes more weight and stays defined when a week had none."""
    frames = []
    for model, g in per_origin.groupby("model", sort=False):
        g = g.sort_values("forecast_date")
        if {"hits", "n_crimes"} <= set(g.columns):
            hits = g["hits"].astype(float).rolling(weeks, min_periods=1).sum()
            crimes = g["n_crimes"].astype(float).rolling(weeks, min_periods=1).sum()
            value = (hits / crimes.where(crimes > 0)).to_numpy()
        else:
            value = g["hit_rate"].astype(float).rolling(weeks, min_periods=1).mean().to_numpy()
        frames.append(pd.DataFrame({"forecast_date": g["forecast_date"].to_numpy(), "model": model, "value": value}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["forecast_date", "model", "value"])


def share_label(share: float) -> str:
    return f"{100 * share:g}%"


def model_order(model: str) -> tuple[int, str]:
    return (0 if metrics.is_model(model) else 2 if metrics.is_ceiling(model) else 1, model)


def model_label(model: str) -> str:
    if metrics.is_model(model):
        return f"model ({model})"
    if metrics.is_ceiling(model):
        return "ceiling (synthetic truth)"
    return f"baseline: {model.replace('_', ' ')}"


def verdict(t: pd.DataFrame, target: Target, share: float) -> tuple[str, str]:
    """(sentence, short form) comparing the model with the best baseline at ``share``."""
    at = metrics.at_share(t, share)
    model = at[at["model"].map(metrics.is_model)]
    base = at[~at["model"].map(metrics.is_model) & ~at["model"].map(metrics.is_ceiling)]
    if model.empty or base.empty:
        return "", ""
    best = base.sort_values("hit_rate", ascending=False).iloc[0]
    mine = float(model["hit_rate"].iloc[0])
    word = "better than" if mine > best["hit_rate"] + 1e-9 else "no better than"
    sentence = (
        f"{target.title}: the model's top {share_label(share)} of the area held {fmt_pct(mine, 1)} of the crimes, "
        f"{word} the best baseline ({best['model'].replace('_', ' ')}, {fmt_pct(best['hit_rate'], 1)})."
    )
    short = f"{target.title.lower()} model {fmt_pct(mine)} vs best baseline {fmt_pct(best['hit_rate'])}"
    return sentence, short


def iom_performance(con: duckdb.DuckDBPyConnection, forecast_date: date) -> Section:
    section = Section(anchor="performance-iom", title="IOM model: backtest against the baselines")
    im = metrics.iom_metrics(con, forecast_date)
    if isinstance(im, Unavailable):
        section.unavailable = str(im)
        return section
    span = (
        f"mean over {im.n_weeks} test weeks ({fmt_value(im.first_week)} to {fmt_value(im.last_week)})"
        if im.n_weeks else "the latest evaluation"
    )
    section.intro = (
        "The model is trained only on snapshots before each test week and judged on who then became high harm "
        f"within 12 months; baselines rank offenders by simple rules. Values are the {span}."
    )
    names = list(im.wide.columns)
    rows = [[Cell(m, "strong" if metrics.is_model(m) or "xgb" in m else "")] + [Cell(fmt_num(im.wide.loc[m, k], 3)) for k in names]
            for m in im.wide.index]
    section.tables.append(Table(["Model"] + [k.replace("_", " ") for k in names], rows, numeric=set(range(1, len(names) + 1))))
    return section
