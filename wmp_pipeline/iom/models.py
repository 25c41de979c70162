"""The escalation classifiers and their calibration, as plain fit/predict objects.

- :class:`XgbEscalationModel`: gradient-boosted trees (xgboost, ``hist``)
  on the raw features, boosted from the logistic baseline's log-odds
  (xgboost's ``base_margin``): the regularised linear model carries the
  smooth, additive part of the risk (and extrapolates sensibly for the
  rare, most active careers) and the trees add the non-linear corrections
  and interactions. Both parts split exactly into per-feature log-odds
  contributions, so every score still has additive reasons. Missing values
  (e.g. "never charged with violence") are handled natively by the trees.
- :class:`LogisticEscalationModel`: the transparent baseline on the same
  features: signed log transform of counts and harm, "never" days filled
  with ten years, standardised, L2-regularised logistic regression.
- :class:`HarmRankModel`: the simplest candidate, ranking by the current
  harm score (``log1p`` of it, the same order); nothing to fit but its
  calibrator.
- :class:`Calibrator`: maps a model's raw score to a probability, fitted on
  a held-out, *later* slice of the training window (isotonic by default,
  Platt scaling as the option). Training negatives are downsampled, so raw
  scores are not probabilities; the calibrator sees the population
  reweighted by ``sample_weight``.

Everything a fitted model needs is plain data (xgboost's JSON, arrays), so
artefacts are saved as JSON, never pickles.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

# xgboost's OpenMP threads spin while waiting by default; on a busy two-core
# machine that wastes most of the CPU (a fit ran 8x slower). Passive waiting
# costs nothing when the machine is idle. Must be set before libgomp loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from wmp_pipeline.iom.features import Feature

#: days value standing for "never" in the logistic baseline
NEVER_DAYS = 3650.0
#: standardised values are clipped to this many standard deviations
Z_CLIP = 5.0


class XgbEscalationModel:
    name = "xgboost"

    def __init__(
        self,
        feature_names: list[str],
        params: dict,
        seed: int = 0,
        n_threads: int = 2,
        init: LogisticEscalationModel | None = None,
    ):
        self.feature_names = list(feature_names)
        self.params = dict(params)
        self.seed = seed
        self.n_threads = n_threads
        #: the linear model the trees are boosted from (None: trees alone)
        self.init = init
        self.booster: xgb.Booster | None = None

    def _matrix(self, X: pd.DataFrame, y=None, w=None) -> xgb.DMatrix:
        matrix = xgb.DMatrix(
            X[self.feature_names].to_numpy(dtype=np.float32),
            label=None if y is None else np.asarray(y, dtype=np.float32),
            weight=None if w is None else np.asarray(w, dtype=np.float32),
            feature_names=self.feature_names,
            nthread=self.n_threads,
        )
        if self.init is not None:
            matrix.set_base_margin(self.init.margin(X))
        return matrix

    def _train_params(self) -> tuple[dict, int]:
        p = dict(self.params)
        rounds = int(p.pop("n_estimators", 300))
        p.update({"objective": "binary:logistic", "eval_metric": "logloss", "seed": self.seed, "nthread": self.n_threads})
        p.setdefault("verbosity", 0)
        return p, rounds

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> XgbEscalationModel:
        params, rounds = self._train_params()
        self.booster = xgb.train(params, self._matrix(X, y, sample_weight), num_boost_round=rounds)
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Raw (uncalibrated) probability: sigmoid(linear log-odds + trees)."""
        return self.booster.predict(self._matrix(X))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-prediction feature contributions in log-odds; the last column is the bias.

        Tree contributions are TreeSHAP (``pred_contribs``); the linear part
        adds ``coefficient * standardised value`` to each feature and its
        intercept to the bias. Rows sum exactly to the model's log-odds.
        """
        contribs = self.booster.predict(self._matrix(X), pred_contribs=True).astype(float)
        if self.init is not None:
            margin = self.init.margin(X)
            contribs[:, -1] -= margin  # xgboost puts the base margin into the bias column
            linear, intercept = self.init.contributions(X)
            contribs[:, :-1] += linear
            contribs[:, -1] += intercept
        return contribs

    def to_json(self) -> str:
        return self.booster.save_raw(raw_format="json").decode("utf-8")

    @classmethod
    def from_json(
        cls, text: str, feature_names: list[str], params: dict, seed: int = 0, init: LogisticEscalationModel | None = None
    ) -> XgbEscalationModel:
        model = cls(feature_names, params, seed, init=init)
        booster = xgb.Booster()
        booster.load_model(bytearray(text.encode("utf-8")))
        model.booster = booster
        return model


@dataclass
class LogisticPreprocessor:
    """Signed log of counts and harm, 'never' days = ten years, median-filled ages, standardised, clipped."""

    features: list[Feature]
    medians: dict[str, float] = field(default_factory=dict)
    means: np.ndarray | None = None
    scales: np.ndarray | None = None

    def _transform_raw(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for f in self.features:
            v = X[f.name].to_numpy(dtype=float)
            if f.kind == "days":
                v = np.log1p(np.clip(np.where(np.isnan(v), NEVER_DAYS, v), 0, None))
            elif f.kind in ("count", "harm", "ratio"):
                v = np.sign(v) * np.log1p(np.abs(np.nan_to_num(v)))
            else:
                v = np.where(np.isnan(v), self.medians.get(f.name, 0.0), v)
            cols.append(v)
        return np.column_stack(cols)

    def fit(self, X: pd.DataFrame) -> LogisticPreprocessor:
        self.medians = {
            f.name: float(np.nanmedian(X[f.name])) if X[f.name].notna().any() else 0.0
            for f in self.features
            if f.kind not in ("days", "count", "harm", "ratio")
        }
        raw = self._transform_raw(X)
        self.means = raw.mean(axis=0)
        scales = raw.std(axis=0)
        self.scales = np.where(scales > 0, scales, 1.0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Standardised values, clipped to +-``Z_CLIP``: a career far outside the training range
        (longer histories than the extract held when the model was trained) must not push the
        linear log-odds without bound."""
        return np.clip((self._transform_raw(X) - self.means) / self.scales, -Z_CLIP, Z_CLIP)


class LogisticEscalationModel:
    name = "logistic"

    def __init__(self, features: list[Feature], c: float = 1.0, seed: int = 0):
        self.features = features
        self.prep = LogisticPreprocessor(features)
        self.model = LogisticRegression(C=c, max_iter=500, random_state=seed)
        self.coef: np.ndarray | None = None
        self.intercept = 0.0

    def fit(self, X: pd.DataFrame, y, sample_weight=None) -> LogisticEscalationModel:
        self.prep.fit(X)
        self.model.fit(self.prep.transform(X), np.asarray(y, dtype=int), sample_weight=sample_weight)
        self.coef = self.model.coef_[0].astype(float)
        self.intercept = float(self.model.intercept_[0])
        return self

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds."""
        return self.prep.transform(X) @ self.coef + self.intercept

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.margin(X)))

    def contributions(self, X: pd.DataFrame) -> tuple[np.ndarray, float]:
        """``(coefficient * standardised value per feature, intercept)``: they sum to the log-odds."""
        return self.prep.transform(X) * self.coef, self.intercept

    def contribution_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """:meth:`contributions` as one array, the intercept as the last (bias) column, like xgboost's."""
        linear, intercept = self.contributions(X)
        return np.column_stack([linear, np.full(len(X), intercept)])

    def to_dict(self) -> dict:
        return {
            "features": [f.name for f in self.features],
            "medians": self.prep.medians,
            "means": self.prep.means.tolist(),
            "scales": self.prep.scales.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict, features: list[Feature]) -> LogisticEscalationModel:
        by_name = {f.name: f for f in features}
        missing = [n for n in data["features"] if n not in by_name]
        if missing:
            raise ValueError(f"saved logistic model uses features the catalogue no longer has: {missing}")
        model = cls([by_name[n] for n in data["features"]])
        model.prep.medians = {k: float(v) for k, v in data["medians"].items()}
        model.prep.means = np.asarray(data["means"], dtype=float)
        model.prep.scales = np.asarray(data["scales"], dtype=float)
        model.coef = np.asarray(data["coef"], dtype=float)
        model.intercept = float(data["intercept"])
        return model


class HarmRankModel:
    """Rank by the current harm score: the simplest candidate the champion is chosen from.

    Its score is ``log1p(harm_score)`` (the same order as the harm score, on a
    log scale like the others' log-odds); its single reason is the harm
    score itself.
    """

    name = "harm_score"

    def __init__(self, feature_names: list[str]):
        self.feature_names = list(feature_names)

    def fit(self, X: pd.DataFrame, y=None, sample_weight=None) -> HarmRankModel:
        if "harm_score" not in X.columns:
            raise ValueError("the harm-rank model needs the harm_score column")
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return np.log1p(np.clip(X["harm_score"].to_numpy(dtype=float), 0.0, None))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """All of the score on the ``harm_score`` feature (zeros when the catalogue lacks it), bias 0."""
        out = np.zeros((len(X), len(self.feature_names) + 1))
        if "harm_score" in self.feature_names:
            out[:, self.feature_names.index("harm_score")] = self.score(X)
        return out

    def to_dict(self) -> dict:
        return {"model": "harm_score", "feature_names": self.feature_names}


class Calibrator:
    """Raw score -> probability, fitted on a held-out later slice.

    ``isotonic``: a monotone step function (scikit-learn's
    ``IsotonicRegression``, clipped outside the fitted range), stored as its
    breakpoints and applied by linear interpolation. ``platt``: logistic
    regression on the log-odds of the raw score.
    """

    def __init__(self, method: str = "isotonic"):
        if method not in ("isotonic", "platt"):
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.a = 1.0
        self.b = 0.0

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def fit(self, raw, y, sample_weight=None) -> Calibrator:
        raw = np.asarray(raw, dtype=float)
        y = np.asarray(y, dtype=float)
        if len(np.unique(y)) < 2:
            raise ValueError("calibration needs both outcomes in the calibration slice")
        if self.method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(raw, y, sample_weight=sample_weight)
            self.x = np.asarray(iso.X_thresholds_, dtype=float)
            self.y = np.asarray(iso.y_thresholds_, dtype=float)
        else:
            lr = LogisticRegression(C=1e6, max_iter=500)
            lr.fit(self._logit(raw).reshape(-1, 1), y.astype(int), sample_weight=sample_weight)
            self.a = float(lr.coef_[0, 0])
            self.b = float(lr.intercept_[0])
        return self

    def predict(self, raw) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            return np.clip(np.interp(raw, self.x, self.y), 0.0, 1.0)
        return 1.0 / (1.0 + np.exp(-(self.a * self._logit(raw) + self.b)))

    def to_dict(self) -> dict:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()}
        return {"method": "platt", "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        cal = cls(data["method"])
        if cal.method == "isotonic":
            cal.x = np.asarray(data["x"], dtype=float)
            cal.y = np.asarray(data["y"], dtype=float)
        else:
            cal.a, cal.b = float(data["a"]), float(data["b"])
        return cal

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
