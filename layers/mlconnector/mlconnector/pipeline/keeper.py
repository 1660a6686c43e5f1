"""Webhook keeper logic: every store's subscriptions re-enabled or re-registered, and said so."""

from __future__ import annotations

from dataclasses import dataclass

from mlconnector.aws.audit import AuditEvent
from mlconnector.observability import count, logger
from mlconnector.pipeline.context import Connector
from mlconnector.sources.base import WebhookStatus


@dataclass(frozen=True)
class KeeperReport:
    connection: str
    statuses: tuple[WebhookStatus, ...]
    error: str = ""


def keep_webhooks(connector: Connector, base_url: str, connections: list[str] | None = None) -> list[KeeperReport]:
    """Run ``ensure_webhooks`` for each enabled connection; one failing store does not stop the others."""
    names = connections or [c.name for c in connector.profile.connections if c.enabled]
    reports = []
    for name in names:
        delivery_url = f"{base_url.rstrip('/')}/{name}"
        try:
            source = connector.source(name)
            delivery_url = source.webhook_address(delivery_url)
            statuses = tuple(source.ensure_webhooks(delivery_url))
        except Exception as exc:  # reported per store; the schedule retries next run
            reason = f"{type(exc).__name__}: {exc}"[:500]
            logger.warning("webhook keeper failed", extra={"connection": name, "reason": reason})
            connector.audit.record_raw(f"{name}|webhooks|keeper", AuditEvent.WEBHOOK_KEEPER, error=reason)
            count("WebhookKeeperErrors", name)
            reports.append(KeeperReport(name, (), reason))
            continue
        changed = [s for s in statuses if s.action != "ok"]
        connector.audit.record_raw(
            f"{name}|webhooks|keeper",
            AuditEvent.WEBHOOK_KEEPER,
            delivery_url=delivery_url,
            actions=[f"{s.topic}:{s.action}" for s in statuses],
        )
        for action in ("reactivated", "created"):
            n = sum(1 for s in changed if s.action == action)
            if n:
                count(f"Webhooks{action.capitalize()}", name, n)
        logger.info(
            "webhooks checked", extra={"connection": name, "changed": [f"{s.topic}:{s.action}" for s in changed]}
        )
        reports.append(KeeperReport(name, statuses))
    return reports
