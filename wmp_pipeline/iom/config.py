"""Every tunable of the IOM model in one frozen dataclass, with defaults.

The harm definitions (window, lookback, horizon, band thresholds) are the
published ones from :mod:`wmp_pipeline.harm`; the rest are modelling
choices, each documented in ``docs/iom.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from wmp_pipeline.harm import DEFAULT_THRESHOLDS, DEFAULT_WINDOWS, BandThresholds, HarmWindows


#: every model the pipeline can serve, simplest first
CANDIDATES = ("harm_score", "logistic", "xgboost")
#: the tie-break metric of the champion choice
TIEBREAK_METRIC = "roc_auc"


def horizon_in_words(horizon_days: int) -> str:
    """``365`` -> ``"12 months (365 days)"``; other horizons in weeks."""
    if horizon_days in (365, 366):
        return f"12 months ({horizon_days} days)"
    if horizon_days % 7 == 0:
        return f"{horizon_days // 7} weeks"
    return f"{horizon_days} days (about {horizon_days / 7:.0f} weeks)"


def _default_xgb_params() -> dict:
    return {
        "n_estimators": 400,
        "learning_rate": 0.03,
        "max_depth": 5,
        "min_child_weight": 20.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "tree_method": "hist",
        "max_bin": 128,
    }


@dataclass(frozen=True)
class IomConfig:
    windows: HarmWindows = DEFAULT_WINDOWS
    thresholds: BandThresholds = DEFAULT_THRESHOLDS

    #: feature windows in days (plus "all history" in the extract)
    feature_windows_days: tuple[int, ...] = (90, 365, 730)
    #: no feature looks further back than this (None: the whole extract)
    history_cap_days: int | None = None
    #: weeks between training snapshot dates (adjacent weeks are near copies)
    snapshot_stride_weeks: int = 4
    #: first snapshot date = first charge in the data + this many days, so
    #: every snapshot has at least this much history behind it
    min_history_days: int = 182

    #: rolling-origin backtest: test weeks span this many weeks back from the
    #: newest snapshot with a complete horizon, one test week every
    #: ``test_every_weeks`` (must be a multiple of the snapshot stride)
    backtest_span_weeks: int = 52
    test_every_weeks: int = 4
    #: the backtest refits its models when this many weeks have passed since
    #: the last fit (4 = a fresh fit for every test week)
    backtest_refit_every_weeks: int = 12
    #: retrain the production model every this many weeks (partitions in
    #: between reuse the newest model)
    retrain_every_weeks: int = 4

    #: share of negative training snapshots kept (all positives are kept);
    #: the model is re-calibrated on an untouched slice, so this only saves time
    negative_sample_rate: float = 0.35
    #: at most this many rows to fit on (a uniform sample of the kept
    #: snapshots above it); the learning curve is flat beyond (docs/iom.md)
    max_fit_rows: int | None = 150_000
    #: boost the trees from the logistic baseline's log-odds (base margin);
    #: off by default: with monotone trees it was no better on the force preset
    boost_from_logistic: bool = False
    #: constrain the trees to be monotone in activity and recency features
    #: (``features.monotone_direction``): stabler at the extremes, where the
    #: caseload is chosen
    monotone: bool = True
    #: newest share of the training snapshot dates held out for calibration
    calibration_share: float = 0.2
    #: "isotonic" or "platt"
    calibration_method: str = "isotonic"

    #: caseloads offender managers can take (precision / recall at k)
    top_k: tuple[int, ...] = (100, 250, 500)
    #: the operating list size: the caseload a week's list is read at. The
    #: champion is chosen by precision at this size, the operating point
    #: (sensitivity, precision, number flagged) and the fairness audit's
    #: threshold are stated at it
    operating_top_k: int = 250

    #: the candidates each retraining compares, simplest first: the order is
    #: the tie-break "a win within noise keeps the simpler model"
    candidates: tuple[str, ...] = ("harm_score", "logistic", "xgboost")
    #: paired bootstrap over test weeks: draws, and the share of draws in which
    #: a more complex candidate must beat a simpler one to count as a win
    bootstrap_draws: int = 2000
    win_confidence: float = 0.95
    #: equal-count bins of the expected calibration error
    ece_bins: int = 10
    #: groups (fairness attributes, areas) with fewer people than this are
    #: suppressed in analyst-facing tables, the model card and the briefing
    min_reported_group_size: int = 10

    #: DuckDB memory limit for the IOM steps (its buffer pool otherwise grows
    #: to most of the machine while the snapshots are built)
    duckdb_memory_limit: str | None = "1.5GB"

    xgb_params: dict = field(default_factory=_default_xgb_params)
    logistic_c: float = 1.0
    seed: int = 20211101

    def __post_init__(self) -> None:
        unknown = sorted(set(self.candidates) - set(CANDIDATES))
        if unknown or not self.candidates:
            raise ValueError(f"IOM candidates must be some of {CANDIDATES}, got {self.candidates}")
        if self.operating_top_k <= 0:
            raise ValueError(f"operating_top_k must be positive, got {self.operating_top_k}")
        if self.operating_top_k not in self.top_k:
            # the champion is chosen by precision at the operating size: it must be measured
            object.__setattr__(self, "top_k", tuple(sorted(set(self.top_k) | {self.operating_top_k})))
        if not 0.5 <= self.win_confidence < 1:
            raise ValueError(f"win_confidence must be in [0.5, 1), got {self.win_confidence}")

    @property
    def horizon_weeks(self) -> int:
        """The outcome horizon in whole weeks (365 days = 52 weeks and a day)."""
        return self.windows.horizon_days // 7

    @property
    def primary_metric(self) -> str:
        """The metric the champion is chosen by: precision in the operating list."""
        return f"precision_at_{self.operating_top_k}"

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_CONFIG = IomConfig()
