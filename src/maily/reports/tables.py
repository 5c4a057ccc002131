"""Reports as CSV: one header and a row per line of each report, every cell escaped
against spreadsheet formulas as the contacts export does (maily.kit.csvsafe)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from fastapi.responses import Response

from maily.kit.csvsafe import CSVRowWriter
from maily.reports import schemas

CSV_TYPE = "text/csv; charset=utf-8"
COUNT_COLUMNS = tuple(schemas.Counts.model_fields)
RATE_COLUMNS = tuple(schemas.Rates.model_fields)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]], **headers: str
) -> Response:
    writer = CSVRowWriter()
    writer.write(header)
    for row in rows:
        writer.write([cell(v) for v in row])
    return Response(
        writer.take(),
        media_type=CSV_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            **headers,
        },
    )


def _figures(f: schemas.Figures) -> list[Any]:
    counts, rates = f.counts.model_dump(), f.rates.model_dump()
    return (
        [counts[c] for c in COUNT_COLUMNS] + [f.delivered_source] + [rates[r] for r in RATE_COLUMNS]
    )


def campaign_csv(report: schemas.CampaignReport) -> Response:
    header = [
        "campaign",
        "variant",
        "subject",
        "winner",
        *COUNT_COLUMNS,
        "delivered_source",
        *RATE_COLUMNS,
    ]
    name = report.campaign.name
    rows = [[name, "all", "", "", *_figures(report.figures)]]
    rows += [[name, v.variant, v.subject, v.winner, *_figures(v.figures)] for v in report.variants]
    return csv_response(f"campaign-{report.campaign.id}.csv", header, rows)


def links_csv(report: schemas.LinkReport) -> Response:
    columns = list(schemas.LinkFigures.model_fields)
    rows = [[getattr(link, c) for c in columns] for link in report.links]
    return csv_response(f"campaign-{report.campaign.id}-links.csv", columns, rows)


def domains_csv(report: schemas.DomainReport) -> Response:
    columns = list(schemas.DomainFigures.model_fields)
    rows = [[getattr(d, c) for c in columns] for d in report.domains]
    return csv_response(
        f"campaign-{report.campaign.id}-domains.csv",
        [*columns, "delivered_source"],
        [[*row, report.delivered_source] for row in rows],
    )


def _point(label: Any, counts: schemas.Counts, rates: schemas.Rates) -> list[Any]:
    c, r = counts.model_dump(), rates.model_dump()
    return [label, *(c[n] for n in COUNT_COLUMNS), *(r[n] for n in RATE_COLUMNS)]


def timeline_csv(report: schemas.TimelineReport) -> Response:
    header = ["start", *COUNT_COLUMNS, *RATE_COLUMNS]
    rows = [_point(p.start, p.counts, p.rates) for p in report.points]
    return csv_response(f"campaign-{report.campaign.id}-timeline-{report.bucket}.csv", header, rows)


def dashboard_csv(report: schemas.DashboardReport) -> Response:
    """The series, then the period's total and the previous period's."""
    header = ["start", *COUNT_COLUMNS, *RATE_COLUMNS]
    rows = [_point(p.start, p.counts, p.rates) for p in report.series]
    rows.append(_point("total", report.totals, report.rates))
    rows.append(_point("previous_period_total", report.previous_totals, report.previous_rates))
    period = f"{report.period.from_}-{report.period.to}"
    return csv_response(f"dashboard-{period}-{report.bucket.value}.csv", header, rows)


def activity_csv(contact_id: str, page: schemas.ActivityPage) -> Response:
    columns = [c for c in schemas.ActivityItem.model_fields if c != "data"]
    rows = [[*(getattr(item, c) for c in columns), _json(item.data)] for item in page.items]
    extra = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
    return csv_response(f"contact-{contact_id}-activity.csv", [*columns, "data"], rows, **extra)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
