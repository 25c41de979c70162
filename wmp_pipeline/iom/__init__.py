"""IOM escalation model: snapshots, labels, training, scoring, explanations, model card.

See ``docs/iom.md`` for the method. The harm definitions themselves are in
:mod:`wmp_pipeline.harm`.
"""

import os

# see wmp_pipeline.iom.models: xgboost's OpenMP threads must wait passively
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
