"""What the alert sensor tells: one message when something breaks, one when it works again.

Pure state, kept in the sensor's cursor (so it survives a daemon restart): what is failing now (by an identity:
a check and its partition, or a job and its partition), and the messages not yet delivered. The sensor feeds
it check evaluations and run outcomes in the order Dagster stored them.

A breach is announced once. A check that fails again while already failing says nothing new, unless its
`episode` changed (a freshness check past a later deadline: another hour is late); a check or job that
passes again after failing is announced once as recovered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import quote

# how many undelivered messages the cursor keeps while the webhook is down (the oldest go first)
MAX_OUTBOX = 500
MAX_VALUES = 12  # numeric metadata values shown in one message


@dataclass(frozen=True)
class Alert:
    what: str  # check_failed, check_recovered, run_failed, run_recovered, sink_not_restarted
    title: str
    detail: str
    url: str
    asset: str | None = None
    check: str | None = None
    partition: str | None = None
    severity: str | None = None
    job: str | None = None
    run_id: str | None = None
    values: dict = field(default_factory=dict)

    def payload(self) -> dict:
        """Slack's incoming-webhook format (Mattermost and Teams' Slack-compatible webhooks read it too): `text`
        for every client, one attachment with the structured fields, and the same fields machine-readable."""
        fields = [
            {"title": name, "value": str(value), "short": True}
            for name, value in (
                ("asset", self.asset),
                ("check", self.check),
                ("partition", self.partition),
                ("severity", self.severity),
                ("job", self.job),
                ("run", self.run_id),
                *self.values.items(),
            )
            if value not in (None, "")
        ]
        good = self.what.endswith("recovered")
        return {
            "text": f"{'✅' if good else '🚨'} {self.title}: {self.detail} <{self.url}|open in Dagster>",
            "attachments": [
                {
                    "color": "good" if good else ("warning" if self.severity == "WARN" else "danger"),
                    "title": self.title,
                    "title_link": self.url,
                    "text": self.detail,
                    "fields": fields,
                }
            ],
            "user_events": {k: v for k, v in asdict(self).items() if v not in (None, "", {})},
        }


@dataclass(frozen=True)
class CheckOutcome:
    asset: str  # user string, e.g. "hourly_kpis" or "warehouse/kpi_daily"
    check: str
    partition: str | None
    passed: bool
    severity: str  # "WARN" or "ERROR"
    description: str
    values: dict
    run_id: str | None
    episode: str | None = None  # what makes a renewed failure a new breach (e.g. a freshness deadline)

    @property
    def identity(self) -> str:
        return f"check:{self.asset}:{self.check}:{self.partition or ''}"


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    job: str
    partition: str | None
    succeeded: bool
    message: str
    sink: str | None = None  # the sink a keep-alive run was for
    retries_left: bool = False

    @property
    def identity(self) -> str:
        return f"run:{self.job}:{self.partition or ''}"


class Links:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")

    def run(self, run_id: str) -> str:
        return f"{self.base}/runs/{run_id}"

    def asset_checks(self, asset: str) -> str:
        return f"{self.base}/assets/{quote(asset)}?view=checks"


@dataclass
class AlertState:
    failing: dict[str, str] = field(default_factory=dict)  # identity -> episode ("" when none)
    outbox: list[dict] = field(default_factory=list)
    dropped: int = 0  # messages dropped from a full outbox

    @classmethod
    def from_dict(cls, data: dict) -> AlertState:
        return cls(
            failing=dict(data.get("failing", {})),
            outbox=list(data.get("outbox", [])),
            dropped=int(data.get("dropped", 0)),
        )

    def to_dict(self) -> dict:
        return {"failing": self.failing, "outbox": self.outbox, "dropped": self.dropped}

    def queue(self, alert: Alert) -> None:
        self.outbox.append(alert.payload())
        if len(self.outbox) > MAX_OUTBOX:
            self.outbox.pop(0)
            self.dropped += 1

    def _transition(self, identity: str, passed: bool, episode: str) -> str | None:
        """'breach', 'recovered' or None (nothing new to tell)."""
        if passed:
            return "recovered" if self.failing.pop(identity, None) is not None else None
        if self.failing.get(identity) == episode:
            return None
        self.failing[identity] = episode
        return "breach"

    def observe_check(self, outcome: CheckOutcome, links: Links) -> Alert | None:
        change = self._transition(outcome.identity, outcome.passed, outcome.episode or "")
        if change is None:
            return None
        where = outcome.asset + (f" [{outcome.partition}]" if outcome.partition else "")
        alert = Alert(
            what="check_failed" if change == "breach" else "check_recovered",
            title=f"{'check failed' if change == 'breach' else 'check passes again'}: {outcome.check} on {where}",
            detail=outcome.description or ("failed" if change == "breach" else "passed"),
            url=links.asset_checks(outcome.asset),
            asset=outcome.asset,
            check=outcome.check,
            partition=outcome.partition,
            severity=outcome.severity,
            run_id=outcome.run_id,
            values=dict(list(outcome.values.items())[:MAX_VALUES]),
        )
        self.queue(alert)
        return alert

    def observe_run(self, outcome: RunOutcome, links: Links) -> Alert | None:
        change = self._transition(outcome.identity, outcome.succeeded, outcome.run_id)
        if change is None:
            return None
        gave_up = change == "breach" and outcome.sink is not None and not outcome.retries_left
        if gave_up:
            what, title = "sink_not_restarted", f"the {outcome.sink} sink could not be restarted"
        elif change == "breach":
            what, title = "run_failed", f"run of {outcome.job} failed"
        else:
            what, title = "run_recovered", f"{outcome.job} succeeds again"
        if outcome.partition:
            title += f" [{outcome.partition}]"
        alert = Alert(
            what=what,
            title=title,
            detail=outcome.message,
            url=links.run(outcome.run_id),
            partition=outcome.partition,
            job=outcome.job,
            run_id=outcome.run_id,
        )
        self.queue(alert)
        return alert
