"""Hotspot assets (knife crime used causing injury, serious violence): cells, panel, models, backtest, predictions."""
