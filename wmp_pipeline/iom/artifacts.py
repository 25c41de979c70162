"""Saving, finding and loading trained IOM models (JSON only, no pickles).

A model lives in ``<artifacts_dir>/models/iom/<version>/``:

- ``model.json``: the served candidate (``metadata["model_kind"]``): the
  xgboost booster in xgboost's own JSON format, the logistic regression's
  coefficients and feature transform, or the harm-rank model's feature list;
- ``linear_init.json``: the logistic model xgboost's trees are boosted from,
  when there is one;
- ``calibrator.json``: the probability calibration (breakpoints or Platt);
- ``metadata.json``: version, the forecast date it was trained for, the
  training window, the sha256 of its training data, the feature names, the
  configuration, and the rolling-origin metrics of its training run.

``version`` is ``iom-<forecast date>-<first 8 hex of the training data
hash>``, so two models trained on the same data carry the same version.
Scoring uses the newest model trained for a forecast date on or before the
week being scored, so re-running an old week never uses a model that was
trained later.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from wmp_pipeline.iom.features import Feature
from wmp_pipeline.iom.models import Calibrator, HarmRankModel, LogisticEscalationModel, XgbEscalationModel

MODEL_FILE = "model.json"
LINEAR_FILE = "linear_init.json"
CALIBRATOR_FILE = "calibrator.json"
METADATA_FILE = "metadata.json"


def models_dir(artifacts_dir: Path) -> Path:
    return Path(artifacts_dir) / "models" / "iom"


def training_data_sha256(frame: pd.DataFrame, columns: list[str], positions: np.ndarray | None = None) -> str:
    """sha256 of the training rows (``positions`` of ``frame``, default all), independent of their order.

    Rows are put in (week, person) order and hashed a column at a time, so
    no copy of the whole training frame is made.
    """
    positions = np.arange(len(frame)) if positions is None else np.asarray(positions)
    keys = pd.DataFrame({"week": frame["week"].to_numpy()[positions], "person_id": frame["person_id"].to_numpy()[positions]})
    order = positions[keys.sort_values(["week", "person_id"], kind="mergesort").index.to_numpy()]
    digest = hashlib.sha256()
    digest.update(json.dumps(columns).encode("utf-8"))
    for column in columns:
        values = frame[column].iloc[order].reset_index(drop=True)
        digest.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def model_version(trained_for: date, data_sha256: str) -> str:
    return f"iom-{trained_for:%Y%m%d}-{data_sha256[:8]}"


@dataclass
class SavedModel:
    version: str
    path: Path
    metadata: dict
    model: XgbEscalationModel | LogisticEscalationModel | HarmRankModel
    calibrator: Calibrator

    @property
    def kind(self) -> str:
        """Which candidate this model is (models saved before the champion choice were xgboost)."""
        return self.metadata.get("model_kind", "xgboost")

    @property
    def trained_for(self) -> date:
        return date.fromisoformat(self.metadata["trained_for"])

    @property
    def feature_names(self) -> list[str]:
        return list(self.metadata["feature_names"])

    def predict_proba(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(raw score, calibrated probability)`` for snapshot rows."""
        raw = self.model.score(rows)
        return raw, self.calibrator.predict(raw)

    def contributions(self, rows: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions to the score, bias last (the reasons)."""
        if isinstance(self.model, LogisticEscalationModel):
            return self.model.contribution_matrix(rows)
        return self.model.contributions(rows)


def _write_json(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_model(
    artifacts_dir: Path,
    model: XgbEscalationModel,
    calibrator: Calibrator,
    metadata: dict,
) -> SavedModel:
    """Write a model folder; ``metadata`` must hold ``version`` and ``trained_for``."""
    for key in ("version", "trained_for", "training_data_sha256", "feature_names"):
        if key not in metadata:
            raise ValueError(f"model metadata needs {key!r}")
    metadata = {**metadata, "model_kind": model.name}
    folder = models_dir(artifacts_dir) / metadata["version"]
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, XgbEscalationModel):
        _write_json(folder / MODEL_FILE, model.to_json())
        if model.init is not None:
            _write_json(folder / LINEAR_FILE, json.dumps(model.init.to_dict()))
    else:
        _write_json(folder / MODEL_FILE, json.dumps(model.to_dict()))
    _write_json(folder / CALIBRATOR_FILE, calibrator.to_json())
    # metadata last: a folder without it is an unfinished save and is ignored
    _write_json(folder / METADATA_FILE, json.dumps(metadata, indent=2, default=str))
    return SavedModel(metadata["version"], folder, metadata, model, calibrator)


def load_model(folder: Path, features: list[Feature] | None = None) -> SavedModel:
    """Load a saved model; ``features`` (default: the current catalogue) rebuild the linear part's transform."""
    metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    calibrator = Calibrator.from_dict(json.loads((folder / CALIBRATOR_FILE).read_text(encoding="utf-8")))
    kind = metadata.get("model_kind", "xgboost")
    if kind != "xgboost":
        data = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        if kind == "harm_score":
            model = HarmRankModel(metadata["feature_names"])
        elif kind == "logistic":
            if features is None:
                from wmp_pipeline.iom.features import feature_catalogue

                features = feature_catalogue()
            model = LogisticEscalationModel.from_dict(data, features)
        else:
            raise ValueError(f"{folder}: unknown model kind {kind!r} in {METADATA_FILE}")
        return SavedModel(metadata["version"], folder, metadata, model, calibrator)
    init = None
    if (folder / LINEAR_FILE).exists():
        if features is None:
            from wmp_pipeline.iom.features import feature_catalogue

            features = feature_catalogue()
        init = LogisticEscalationModel.from_dict(json.loads((folder / LINEAR_FILE).read_text(encoding="utf-8")), features)
    model = XgbEscalationModel.from_json(
        (folder / MODEL_FILE).read_text(encoding="utf-8"),
        metadata["feature_names"],
        metadata.get("xgb_params", {}),
        seed=metadata.get("seed", 0),
        init=init,
    )
    return SavedModel(metadata["version"], folder, metadata, model, calibrator)


def list_models(artifacts_dir: Path) -> list[dict]:
    """Metadata of every complete saved model, oldest first."""
    root = models_dir(artifacts_dir)
    if not root.exists():
        return []
    out = []
    for folder in root.iterdir():
        meta = folder / METADATA_FILE
        if folder.is_dir() and meta.exists():
            data = json.loads(meta.read_text(encoding="utf-8"))
            data["_path"] = str(folder)
            out.append(data)
    return sorted(out, key=lambda m: (m["trained_for"], m.get("trained_at", ""), m["version"]))


def newest_model(
    artifacts_dir: Path, on_or_before: date | None = None, features: list[Feature] | None = None
) -> SavedModel | None:
    """The newest model trained for a forecast date on or before ``on_or_before``."""
    candidates = [
        m for m in list_models(artifacts_dir) if on_or_before is None or date.fromisoformat(m["trained_for"]) <= on_or_before
    ]
    if not candidates:
        return None
    return load_model(Path(candidates[-1]["_path"]), features)


def retraining_due(
    newest: SavedModel | None,
    forecast_date: date,
    every_weeks: int,
    feature_names: list[str],
) -> tuple[bool, str]:
    """Retrain when there is no model, it is ``every_weeks`` or more old, or its features differ."""
    if newest is None:
        return True, "no trained model yet"
    if newest.feature_names != list(feature_names):
        return True, "the feature set changed since the newest model"
    age = forecast_date - newest.trained_for
    if every_weeks <= 0 or age >= timedelta(weeks=every_weeks):
        return True, f"newest model is {age.days // 7} weeks old (cadence {every_weeks} weeks)"
    return False, f"newest model {newest.version} is {age.days // 7} weeks old (cadence {every_weeks} weeks)"
