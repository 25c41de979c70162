"""Data-quality asset checks on the raw CONNECT tables, and the data-quality summary tables."""
