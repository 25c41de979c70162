"""Publication of the analyst file."""
