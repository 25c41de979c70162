"""The one markdown table writer every asset's metadata uses."""

from __future__ import annotations

import math

import pandas as pd

from wmp_pipeline.markdown import markdown_table, png_markdown


def test_frame_and_rows_give_the_same_table():
    rows = [{"model": "xgboost", "auc": 0.73512, "n": 3}, {"model": "logistic", "auc": math.nan, "n": 4}]
    text = markdown_table(rows)
    assert text == markdown_table(pd.DataFrame(rows))
    assert text.splitlines() == ["| model | auc | n |", "|---|---|---|", "| xgboost | 0.735 | 3 |", "| logistic | n/a | 4 |"]


def test_values_cannot_break_the_table_and_long_ones_are_cut():
    text = markdown_table([{"rule": "a|b\nc", "value": "x" * 100}], floatfmt=None, missing="", max_chars=10)
    assert "| a\\|b c | xxxxxxx... |" in text


def test_row_limit_and_empty():
    frame = pd.DataFrame({"k": range(5)})
    text = markdown_table(frame, max_rows=2)
    assert text.count("\n| ") == 2 - 1 + 1 and "_3 more row(s) not shown_" in text
    assert markdown_table([]) == "_none_" and markdown_table(None) == "_none_" and markdown_table(frame.iloc[:0]) == "_none_"


def test_png_embeds_base64():
    assert png_markdown(b"\x89PNG", "map") == "![map](data:image/png;base64,iVBORw==)"
