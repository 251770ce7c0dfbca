from datetime import timedelta

from odoo import fields, models

# The operation of outbound alert webhook messages (its flow policy: data/logistics_alert_data.xml).
ALERT_OPERATION = "alert_notify"
ALERT_EXCEPTION_TYPE = "alert_firing"


class LogisticsAlert(models.Model):
    """What a firing or resolved alert does: its card on the exception board, and who is told
    (users and groups in Odoo and by email, a Discuss channel, an alert webhook through the
    outbound pipeline), unless a silence or an unavailable backend mutes it."""

    _inherit = "logistics.alert"

    def _update_muting(self, now):
        """Record on these alerts the silence that matches them at ``now`` and whether their
        backend is unavailable (inhibition: an open partner-level exception, or a firing alert
        of a rule that marks it unavailable; such an alert never inhibits itself)."""
        silences = self.env["logistics.alert.silence"]._in_effect(now)
        down = self._unavailable_backends()
        for alert in self:
            silence = silences._matching(alert.rule_id, alert.labels or {}, alert.company_id)
            inhibited = alert.backend_id.id in down and not alert.rule_id.marks_partner_unavailable
            if alert.silence_id != silence or alert.inhibited != inhibited:
                alert.write({"silence_id": silence.id, "inhibited": inhibited})

    def _unavailable_backends(self):
        """Ids of the backends that are down now: an open partner-level exception, or a firing
        alert of a "partner unavailable" rule, names them."""
        exceptions = (
            self.env["logistics.exception"]
            .sudo()
            ._read_group(
                [
                    ("type_id.partner_level", "=", True),
                    ("is_closed", "=", False),
                    ("backend_id", "!=", False),
                ],
                ["backend_id"],
            )
        )
        alerts = self.sudo()._read_group(
            [
                ("state", "=", "firing"),
                ("rule_id.marks_partner_unavailable", "=", True),
                ("backend_id", "!=", False),
            ],
            ["backend_id"],
        )
        return {backend.id for (backend,) in exceptions + alerts}

    def _muted(self):
        self.ensure_one()
        return bool(self.silence_id) or self.inhibited

    def _on_firing(self, now):
        """These alerts fire at ``now``: each one not muted opens (or counts one more
        occurrence on) its grouped card and tells its recipients, the first time and then
        every ``repeat_minutes``. A muted alert does neither: it opens its card and tells its
        recipients once its silence ends or its backend is back, if it still fires."""
        for alert in self:
            if alert._muted():
                continue
            repeat = alert.rule_id.repeat_minutes
            if alert.last_notified_at and not (
                repeat and alert.last_notified_at + timedelta(minutes=repeat) <= now
            ):
                continue
            alert._hold_card()
            alert._notify("trigger")
            alert.write({"last_notified_at": now, "notified_count": alert.notified_count + 1})

    def _on_resolved(self):
        """These alerts resolved: their card closes (noted in its chatter), and the
        recipients who were told they fired are told they resolved when the rule says so
        (``send_resolved``) and no silence or unavailable backend mutes them."""
        for alert in self:
            card = alert.exception_id
            if card and not card.is_closed:
                card._close_automatically(
                    self.env._("The alert resolved: %(summary)s", summary=alert._summary())
                )
            if alert.rule_id.send_resolved and alert.last_notified_at and not alert._muted():
                alert._notify("resolve")

    def _hold_card(self):
        """Open this alert's card on the exception board (type alert_firing), or count one more
        occurrence on it: one card per rule and label set (grouping cause
        ``alert:<rule id>:<labels>``)."""
        self.ensure_one()
        summary = self._summary()
        card = self.env["logistics.exception"]._raise(
            ALERT_EXCEPTION_TYPE,
            [
                {
                    "name": summary[:200],
                    "description": self.env._(
                        "Alert rule %(rule)s fires for %(labels)s since %(since)s.\n%(help)s",
                        rule=self.rule_id.name,
                        labels=self._labels_text(),
                        since=self.fired_at,
                        help=self.rule_id.metric_help or "",
                    ),
                    "backend_id": self.backend_id.id,
                    "severity": self.severity,
                    "company_id": self.company_id.id,
                    "cause": f"alert:{self.rule_id.id}:{self.label_key}",
                    "occurrence": summary,
                }
            ],
        )
        self.exception_id = card

    def _notify(self, action):
        """Tell the rule's recipients that this alert fires (``action`` ``"trigger"``) or
        resolved (``"resolve"``): a message on the alert to its users (Odoo inbox or email, as
        each user prefers), one in its Discuss channel, and an event to its alert webhook
        backend through the outbound pipeline (``logistics.message._create_outbound``:
        retries, dead letters)."""
        self.ensure_one()
        rule = self.rule_id
        summary = self._summary()
        if action == "trigger":
            body = self.env._(
                "Firing (%(severity)s): %(summary)s", severity=self.severity, summary=summary
            )
        else:
            body = self.env._("Resolved: %(summary)s", summary=summary)
        users = rule._recipient_users()
        if users:
            self.message_post(
                body=body,
                partner_ids=users.partner_id.ids,
                subtype_xmlid="mail.mt_comment",
                message_type="comment",
            )
        if rule.discuss_channel_id:
            rule.discuss_channel_id.sudo().message_post(
                body=body, message_type="comment", subtype_xmlid="mail.mt_comment"
            )
        backend = rule.webhook_backend_id
        if backend:
            self.env["logistics.message"].sudo()._create_outbound(
                backend,
                ALERT_OPERATION,
                backend._alert_event(self, action),
                endpoint=backend._alert_endpoint(),
            )
        self.env["logistics.alert.history"].create(
            {
                "alert_id": self.id,
                "state": self.state,
                "value": self.last_value,
                "changed_at": fields.Datetime.now(),
                "note": self.env._("Recipients told: %(action)s", action=action),
            }
        )
