"""Pseudonymisation of person identifiers for analyst-facing tables."""
