"""The static answers of the transparency record, versioned, with their source.

The weekly transparency record (:mod:`wmp_pipeline.reports.transparency`) is
generated, never written by hand: the parts that change every week (model
versions, data windows, metrics, the fairness table) come from the pipeline's
own tables and model files. The parts that do not (why each tool exists, who
uses it, what decisions it supports, training, dates) are the force's own
answers to a Freedom of Information request on its algorithmic tools, kept
here as data so that a change is a reviewed edit with a new
:data:`FACTS_VERSION`.

Each answer records where it comes from in ``source``:

* ``FOI`` - West Midlands Police's FOI answer naming the three tools (the
  wording is kept close to the force's own);
* ``pipeline`` - how this open-source pipeline implements the tool (the code
  and ``docs/`` are the evidence);
* ``not stated`` - the question is in the ATRS template but the FOI answer
  does not answer it; the record says so rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: Bump on every change to the answers below (YYYY.N).
FACTS_VERSION = "2026.1"

FOI_SOURCE = (
    "West Midlands Police, Freedom of Information answer on the force's algorithmic tools "
    "(individual risk assessment and predictive geospatial hotspot mapping tools developed in-house by "
    "the WMP Data Analytics Lab)"
)

ORGANISATION = "West Midlands Police"
TEAM = "Data Analytics Lab"
REGION = "England: West Midlands police force area"
FUNCTION = "Policing: crime prevention and offender management"
NOT_STATED = "Not stated in the force's FOI answer."


@dataclass(frozen=True)
class Answer:
    text: str
    source: str  # "FOI" | "pipeline" | "not stated"


def foi(text: str) -> Answer:
    return Answer(text, "FOI")


def pipeline(text: str) -> Answer:
    return Answer(text, "pipeline")


def not_stated(extra: str = "") -> Answer:
    return Answer((NOT_STATED + " " + extra).strip(), "not stated")


@dataclass(frozen=True)
class Risk:
    risk: str
    mitigation: str


@dataclass(frozen=True)
class ToolFacts:
    code: str
    name: str
    kind: str
    phase: str
    first_deployed: date
    description: Answer
    reasons_and_purpose: Answer
    data_sources: Answer
    update_frequency: Answer
    outputs: Answer
    signifies: Answer
    decisions: Answer
    human_oversight: Answer
    intended_users: Answer
    training: Answer
    dates: Answer
    model_type: Answer
    #: the tables and models whose weekly values fill the record
    targets: tuple[str, ...] = ()
    risks: tuple[Risk, ...] = field(default_factory=tuple)
    alternatives: Answer = not_stated()
    impact_assessments: Answer = not_stated("Data protection and equality impact assessments should be linked here when published.")


_CONNECT = (
    "CONNECT, the force's crime and custody records system: an internal police data source. "
)

IOM = ToolFacts(
    code="iom",
    name="Integrated Offender Management (IOM) model: risk assessment for offenders",
    kind="Individual risk assessment (statistical model)",
    phase="Beta (testing)",
    first_deployed=date(2021, 11, 1),
    description=foi(
        "A statistical model that estimates the probability that a defendant who has not yet reached the "
        "high harm threshold becomes high harm. It assists Offender Managers to identify the most harmful "
        "offenders (people who have been charged) to prioritise for proactive offender management, including "
        "offenders who are not yet high harm but should be considered for offender management as a preventative measure."
    ),
    reasons_and_purpose=foi(
        "To assist Offender Managers to identify the most harmful offenders (people who have been charged) who should "
        "be prioritised for proactive offender management, including those who have not yet become 'high harm' but who "
        "should also be considered for offender management as a preventative measure."
    ),
    data_sources=foi(
        _CONNECT + "Only records of people who have been charged are used. No external public-sector or private-sector data."
    ),
    update_frequency=foi("Updated weekly via an automated data feed from CONNECT."),
    outputs=foi(
        "Each offender's harm score places them in a category of low, low-medium, high-medium, high or super high harm; "
        "offender managers can identify which low-medium harm offenders are predicted to have a greater probability of "
        "transitioning to high harm. (FOI: shown in a Qlik dashboard; this pipeline: a weekly HTML briefing and a "
        "read-only analyst database, offenders identified by a keyed pseudonym.)"
    ),
    signifies=pipeline(
        "The probability, as of the Monday of the run, that the person's harm score (days of imprisonment of the offences "
        "charged in the previous 365 days) reaches the high band (365 days or more) within the following 12 months. "
        "It is an estimate about future charges, not a finding about the person."
    ),
    decisions=foi(
        "Where an offender is identified as having a greater probability of transitioning to high harm, they are considered "
        "by the Local Offender Management Unit (LOMU) and the local Neighbourhood Police Team for an appropriate level of "
        "offender management support, with the aim of preventing their offending harm from escalating. This is part of "
        "normal offender management processes."
    ),
    human_oversight=foi(
        "The output is researched and cross-referenced with information from other sources, including the knowledge of "
        "local officers, before any decision. The model does not make decisions."
    ),
    intended_users=foi("The Local Offender Management Units, who are responsible for managing offenders who have been charged."),
    training=foi(
        "LOMUs with access have received internal training explaining the methodology behind the tool and demonstrations of "
        "how to use the dashboard. A recording of one session is available for reference. The trainer is the person who "
        "developed the dashboard and can be contacted with further questions."
    ),
    dates=foi("Beta testing started in November 2021."),
    model_type=pipeline(
        "Gradient-boosted trees (XGBoost) classifier on features of each person's charge history, calibrated to "
        "probabilities, compared every week with a logistic regression and simple ranking baselines."
    ),
    targets=("iom_risk_scores", "iom_model_metrics", "iom_fairness_audit"),
    risks=(
        Risk(
            "Charges reflect police and prosecution activity as well as offending, so groups that are policed more may "
            "receive higher scores (bias in the data).",
            "A weekly fairness audit compares selection, error rates and calibration across groups and flags differences "
            "beyond a stated tolerance for human review; the table is published in this record.",
        ),
        Risk(
            "Over-reliance on a score in decisions about a person.",
            "Scores are a prompt for research by offender managers, cross-referenced with other sources and local officers' "
            "knowledge; the model never triggers an action by itself.",
        ),
        Risk(
            "Disclosure of personal data.",
            "Published outputs hold a keyed pseudonym, never the CONNECT person identifier; the re-identification table stays "
            "in the working database; output files are readable by their owner only.",
        ),
        Risk(
            "The model degrades as data or practice change.",
            "Rolling-origin backtests against baselines are recomputed every week and shown in this record and the briefing.",
        ),
    ),
)

_HOTSPOT_DESCRIPTION = (
    "A predictive crime mapping model which predicts the likely location and numbers of the relevant offences over the "
    "next four weeks, in small geographical areas (square grid cells: 1 km² for knife crime, 0.5 km² for serious violence, as the force publishes)."
)

_HOTSPOT_COMMON = dict(
    kind="Predictive geospatial hotspot mapping (statistical model)",
    phase="Beta (testing)",
    reasons_and_purpose=foi(
        "To assist with decisions about the deployment of resources aimed at reducing the level of knife crime and "
        "serious violence."
    ),
    data_sources=foi(
        _CONNECT + "Only recorded crimes falling within the relevant definitions are used. No external data."
    ),
    update_frequency=foi("Updated weekly via an automated data feed from CONNECT."),
    outputs=foi(
        "Identifies small geographical areas which are more likely to experience the offences in the next four-week "
        "period. (FOI: shown in a Qlik dashboard; this pipeline: a weekly HTML briefing with maps, GeoJSON files and a "
        "read-only analyst database.)"
    ),
    signifies=pipeline(
        "For each cell, the expected number of such crimes committed in the 28 days from the forecast date, and the "
        "probability of at least one; the top 1% of the force area is flagged. These predictions are about places, never people."
    ),
    decisions=foi(
        "Used by the Intelligence Team to support their analysis of where to deploy resources aimed at reducing knife crime "
        "and serious violence. Any recommendations are fed into Force tasking processes and considered with other relevant "
        "information. The predictions are not targeted at individuals."
    ),
    human_oversight=foi(
        "Analysts of the Intelligence Team review the predictions; recommendations go through Force tasking, where they are "
        "considered with other relevant information."
    ),
    intended_users=foi("The Intelligence Team for Project Guardian, which focuses on reducing serious youth violence."),
    training=foi("In-person training was provided to the users of the tool by the developers (in-house)."),
    model_type=pipeline(
        "XGBoost Poisson count model per grid cell (1 km² knife crime, 0.5 km² serious violence) and week, on recent and long-run counts of the target and related "
        "crimes in the cell and its neighbours, season and a near-repeat score; judged every week against recent-crime and "
        "prospective hotspotting baselines by hit rate and Predictive Accuracy Index."
    ),
    risks=(
        Risk(
            "Feedback loop: more patrols where the map points can record more crime there, which raises future predictions.",
            "Targets are crimes of violence with injury, which are mostly reported by victims rather than found by patrols; "
            "backtests against baselines are recomputed weekly; recommendations are weighed in Force tasking with other information.",
        ),
        Risk(
            "Stigmatising neighbourhoods or the people who live in them.",
            "Outputs concern small areas and a 4-week window only; they are not used to target individuals.",
        ),
        Risk(
            "Crimes with no recorded location, or recorded late, are missing from the features.",
            "The weekly run counts crimes without coordinates and reports late recording; the briefing marks recent weeks as incomplete.",
        ),
    ),
)

KNIFE = ToolFacts(
    code="knife_injury",
    name="Knife Crime (used causing injury) 4 week prediction mapping",
    first_deployed=date(2021, 11, 1),
    description=foi(_HOTSPOT_DESCRIPTION.replace("the relevant offences", "knife crime used causing injury")),
    dates=foi("Beta testing started in November 2021."),
    targets=("hotspot_predictions", "hotspot_backtest_metrics"),
    **_HOTSPOT_COMMON,
)

SERIOUS_VIOLENCE = ToolFacts(
    code="serious_violence",
    name="Serious Violent Crime 4 week prediction mapping",
    first_deployed=date(2022, 5, 1),
    description=foi(_HOTSPOT_DESCRIPTION.replace("the relevant offences", "serious violent crime")),
    dates=foi("Beta testing started in May 2022."),
    targets=("hotspot_predictions", "hotspot_backtest_metrics"),
    **_HOTSPOT_COMMON,
)

TOOLS: tuple[ToolFacts, ...] = (IOM, KNIFE, SERIOUS_VIOLENCE)
