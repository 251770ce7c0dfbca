from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models

# Shown in a digest: the most urgent open exceptions (the counts cover them all).
DIGEST_EXCEPTIONS = 20


class LogisticsAlertDigest(models.Model):
    """When each alert recipient last got their digest: one email per recipient per period
    (``logistics.alert_digest_minutes``, 60 by default; 0: no digests) summarising the alerts
    firing for the rules that tell them and the open exceptions of their companies (DESIGN §5,
    "digest emails per recipient and period"; the team digests of the exception board are
    ``logistics.exception._cron_send_digests``)."""

    _name = "logistics.alert.digest"
    _description = "Logistics Alert Digest (last sent, per recipient)"

    user_id = fields.Many2one("res.users", required=True, ondelete="cascade", index=True)
    last_sent_at = fields.Datetime(required=True)

    _user_uniq = models.Constraint("unique (user_id)", "One digest record per user.")

    @api.model
    def _cron_send_digests(self, now=None):
        """Cron: each recipient of an active rule (its users and its groups' users) whose
        period has passed since their last digest gets one email, when something is firing
        or open for them.

        :param now: naive UTC datetime (default: now)
        :return: the number of digests sent (int)
        """
        now = now or fields.Datetime.now()
        minutes = int(
            self.env["ir.config_parameter"].sudo().get_param("logistics.alert_digest_minutes", 60)
            or 0
        )
        if minutes <= 0:
            return 0
        rules = self.env["logistics.alert.rule"].sudo().search([("active", "=", True)])
        rules_of = defaultdict(lambda: self.env["logistics.alert.rule"])
        for rule in rules:
            for user in rule._recipient_users():
                rules_of[user] |= rule
        if not rules_of:
            return 0
        last_sent = {
            digest.user_id: digest
            for digest in self.sudo().search([("user_id", "in", [u.id for u in rules_of])])
        }
        firing = (
            self.env["logistics.alert"]
            .sudo()
            .search([("rule_id", "in", rules.ids), ("state", "=", "firing")])
        )
        sent = 0
        for user, user_rules in rules_of.items():
            digest = last_sent.get(user)
            # A minute's slack: the cron's own start drifts by seconds from run to run.
            if digest and digest.last_sent_at + timedelta(minutes=minutes) > now + timedelta(
                minutes=1
            ):
                continue
            alerts = firing.filtered(
                lambda a, r=user_rules, u=user: a.rule_id in r and a.company_id in u.company_ids
            )
            if self._send(user, alerts):
                sent += 1
                if digest:
                    digest.last_sent_at = now
                else:
                    self.sudo().create({"user_id": user.id, "last_sent_at": now})
        return sent

    @api.model
    def _send(self, user, alerts):
        """Email ``user`` the digest of ``alerts`` and of the open exceptions on the board of
        their companies (not held, not snoozed); nothing when both are empty.

        :return: whether an email was queued (bool)
        """
        Exception = self.env["logistics.exception"].sudo()
        now = fields.Datetime.now()
        domain = [
            ("is_closed", "=", False),
            ("held_by_id", "=", False),
            ("company_id", "in", user.company_ids.ids),
            "|",
            ("snoozed_until", "=", False),
            ("snoozed_until", "<=", now),
        ]
        counts = Exception._read_group(domain, ["severity"], ["__count"], order="severity")
        total = sum(count for _severity, count in counts)
        if not alerts and not total:
            return False
        body = self.env["ir.qweb"]._render(
            "logistics_monitoring.alert_digest",
            {
                "user": user,
                "alerts": alerts,
                "exception_total": total,
                "exception_counts": counts,
                "exceptions": Exception.search(domain, limit=DIGEST_EXCEPTIONS),
                "base_url": self.get_base_url(),
            },
        )
        self.env["mail.mail"].sudo().create(
            {
                "subject": self.env._(
                    "Logistics digest: %(alerts)s alerts firing, %(exceptions)s open exceptions",
                    alerts=len(alerts),
                    exceptions=total,
                ),
                "body_html": body,
                "recipient_ids": [(6, 0, user.partner_id.ids)],
                "auto_delete": True,
            }
        )
        return True
