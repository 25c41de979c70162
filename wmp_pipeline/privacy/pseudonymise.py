"""Keyed pseudonyms for person identifiers.

Analyst-facing tables never hold a CONNECT ``person_id``: they hold
``offender_key = "OFF-" + first 16 hex of HMAC-SHA256(key, person_id)``. The key
comes from ``WMP_PSEUDONYM_KEY``; without the key a pseudonym cannot be reversed
or recomputed from a guessed id. The re-identification table
(``restricted_person_keys``) stays in the working database only.
"""

from __future__ import annotations

import hashlib
import hmac

from wmp_pipeline.settings import InsecureKeyError, Settings

__all__ = ["InsecureKeyError", "check_key", "pseudonym", "register_duckdb_function"]


def check_key(settings: Settings) -> str:
    """Return the pseudonymisation key, refusing the development key in production."""
    return settings.check_startable().pseudonym_key


def pseudonym(person_id: str, key: str) -> str:
    digest = hmac.new(key.encode("utf-8"), str(person_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return "OFF-" + digest[:16].upper()


def register_duckdb_function(con, key: str, name: str = "wmp_pseudonym") -> None:
    """Make ``wmp_pseudonym(person_id)`` available in SQL on this connection."""
    try:
        con.remove_function(name)
    except Exception:
        pass
    con.create_function(name, lambda pid: None if pid is None else pseudonym(pid, key), ["VARCHAR"], "VARCHAR", side_effects=False)
