from odoo import fields, models

from ..adapters import easypost


class LogisticsBackend(models.Model):
    _inherit = "logistics.backend"

    adapter = fields.Selection(
        selection_add=[("easypost", "EasyPost (carrier aggregator)")],
        ondelete={"easypost": "set default"},
    )
    carrier_rate_rule = fields.Selection(
        [("cheapest", "Cheapest"), ("fastest", "Fastest"), ("preferred", "Preferred carrier")],
        string="Rate Choice",
        default="cheapest",
        help="Which of the rates the aggregator offers is bought. Preferred: the cheapest rate "
        "of the preferred carrier (and service), else the cheapest.",
    )
    carrier_preferred = fields.Char(string="Preferred Carrier", help="e.g. USPS, UPSDAP")
    carrier_preferred_service = fields.Char(string="Preferred Service", help="e.g. Priority")
    carrier_default_weight = fields.Float(
        string="Default Parcel Weight (kg)",
        default=1.0,
        help="Used when neither the warehouse nor the products give a weight.",
    )
    carrier_tracking_url = fields.Char(
        string="Tracking Page",
        help="Public tracking page with {tracking} for the tracking number, used in customer "
        "emails when the carrier gives no page of its own.",
    )

    # --- webhooks: EasyPost's own signature and events ------------------------------------------
    def _verify_webhook_signature_easypost(self, headers, raw_body):
        easypost.verify_signature(raw_body, headers, self._get_secret("webhook_secret"))

    def _parse_webhook_events_easypost(self, data):
        """tracker.updated events as canonical milestones, through the status mapping table.
        Other events, statuses mapped to no event type (e.g. unknown) and statuses without a
        mapping row give no event; the last wait for their row (``_process_inbound``)."""
        update = easypost.parse_event(data)
        if update is None:
            return []
        row = self.env["logistics.carrier.status.map"]._map(
            "easypost", update.status, update.status_detail
        )
        if not row or not row.event_type_id:
            return []
        # A scan under a label whose refund was asked (the parcel left with it): the event is
        # the shipment's, by its reference (``_watch_refunded_labels``).
        refunded = self.env.context.get("logistics_refunded_labels", {}).get(update.tracking_code)
        reference = {"shipment_ref": refunded} if refunded else {}
        return [
            {
                "type": row.event_type_id.code,
                "event_id": update.event_id,
                "occurred_at": update.occurred_at,
                **(reference or {"tracking_number": update.tracking_code}),
                "payload": {
                    "status": update.status,
                    "status_detail": update.status_detail,
                    "reason": row.reason,
                    "action_required": row.action_required,
                    "message": update.message,
                    "location": update.location,
                    "est_delivery_date": update.est_delivery_date,
                    "signed_by": update.signed_by,
                    "public_url": update.public_url,
                    "carrier": update.carrier,
                    # The cash collected (cod_collected): what finance reconciles remittances with.
                    **(
                        {"amount": update.cod_amount, "currency": update.cod_currency}
                        if update.cod_amount is not None
                        else {}
                    ),
                },
            }
        ]

    def _process_inbound(self, messages):
        """An EasyPost tracker status (and detail) that no mapping row maps is not dropped: its
        messages end dead, waiting on one mapping_missing exception per status and detail,
        until a row maps it (``logistics.carrier.status.map`` then processes them again). The
        other messages are processed as usual."""
        if self.adapter != "easypost":
            return super()._process_inbound(messages)
        if "logistics_refunded_labels" not in self.env.context:
            self._apply_refund_events(messages)
            refunded = self._watch_refunded_labels(messages)
            return self.with_context(logistics_refunded_labels=refunded)._process_inbound(
                messages.with_context(logistics_refunded_labels=refunded)
            )
        waiting = {}
        for message in messages:
            unmapped = self._unmapped_tracker_status(message.payload)
            if unmapped:
                waiting.setdefault(unmapped, message.browse())
                waiting[unmapped] |= message
        Exception_ = self.env["logistics.exception"]
        for (status, status_detail), unmapped_messages in waiting.items():
            unmapped_messages._set_state(
                "dead",
                error_class="business",
                reason_category="mapping",
                error=self.env._(
                    "No Carrier Status Mapping row maps the EasyPost tracking status "
                    "%(status)s (detail %(detail)s): kept until one is added.",
                    status=status,
                    detail=status_detail or "-",
                ),
            )
            Exception_._raise_unmapped_status(self, status, status_detail, unmapped_messages)
        held = self.env["logistics.message"].union(*waiting.values())
        summary = f"{len(held)} waiting for a status mapping"
        if messages - held:
            summary = f"{super()._process_inbound(messages - held)}; {summary}"
        return summary

    def _apply_refund_events(self, messages):
        """EasyPost's refund.successful Events settle the refunds this backend was asked for
        (``logistics.carrier.label._refund_outcome``: refunded, or rejected). The messages
        carry no milestone; the normal processing then marks them done. A refund of a label
        we don't know (or not waiting for its refund) changes nothing."""
        Label = self.env["logistics.carrier.label"].sudo()
        for message in messages:
            try:
                update = easypost.parse_refund_event(message.payload)
            except ValueError:
                continue  # not an Event: the normal processing tells what is wrong with it
            if update is None:
                continue
            domain = [
                ("backend_id", "=", self.id),
                ("state", "in", ("refund_submitted", "refund_rejected")),
            ]
            if update.shipment_id:
                domain.append(("carrier_shipment_ref", "=", update.shipment_id))
            elif update.tracking_code:
                domain.append(("tracking_number", "=", update.tracking_code))
            else:
                continue
            Label.search(domain)._refund_outcome(update.status)

    def _watch_refunded_labels(self, messages):
        """Tracking numbers of these tracker updates whose label's refund was asked (a reroute,
        a cancel): ``{tracking number: shipment reference}``, one query for the batch. Such a
        scan means the parcel travels under the label being refunded (its refund will be
        rejected, and the label bought instead was paid for nothing): the scan is recorded on
        its shipment, and a person is told once (label_refund_rejected)."""
        codes = {}
        for message in messages:
            try:
                update = easypost.parse_event(message.payload)
            except ValueError:
                continue
            if update is not None:
                codes[update.tracking_code] = message
        if not codes:
            return {}
        labels = (
            self.env["logistics.carrier.label"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", self.id),
                    ("tracking_number", "in", list(codes)),
                    ("state", "in", ("refund_submitted", "refund_rejected", "refunded")),
                ]
            )
        )
        labels -= labels.filtered(
            lambda label: (
                label.tracking_number in label.shipment_id.package_ids.mapped("tracking_number")
            )
        )
        for label in labels:
            shipment = label.shipment_id
            self.env["logistics.exception"].sudo()._raise_once(
                "label_refund_rejected",
                {
                    "name": self.env._(
                        "%(ref)s scanned under label %(tracking)s, whose refund was asked",
                        ref=shipment.picking_id.name or shipment.name,
                        tracking=label.tracking_number,
                    ),
                    "shipment_id": shipment.id,
                    "backend_id": self.id,
                    "message_id": codes[label.tracking_number].id,
                    "description": self.env._(
                        "The carrier scanned the parcel under the label of %(carrier)s that was "
                        "to be refunded (%(state)s): the parcel travels with it, so its refund "
                        "will be refused, and the label bought since may be unused. Check which "
                        "label is on the parcel; refund the other one.",
                        carrier=label.backend_id.name,
                        state=label.state,
                    ),
                    "company_id": shipment.company_id.id,
                },
            )
        return {label.tracking_number: label.shipment_id.name for label in labels}

    def _unmapped_tracker_status(self, payload):
        """(status, status detail) of an EasyPost tracker.updated body when no mapping row maps
        them, else None (other events, mapped statuses, and bodies that are no Event: the
        normal processing tells what is wrong with those)."""
        try:
            update = easypost.parse_event(payload)
        except ValueError:
            return None
        if update is None:
            return None
        if self.env["logistics.carrier.status.map"]._map(
            self.adapter, update.status, update.status_detail
        ):
            return None
        return update.status, update.status_detail or None

    def _choose_rate(self, rates):
        """The rate this backend's *Rate Choice* picks among ``rates`` (``easypost.Rate``): see
        ``easypost.choose_rate``.

        :raises ValueError: no rate"""
        self.ensure_one()
        return easypost.choose_rate(
            rates,
            self.carrier_rate_rule or "cheapest",
            self.carrier_preferred,
            self.carrier_preferred_service,
        )

    # --- carriers in order of preference --------------------------------------------------------
    def _next_carrier(self, company):
        """The carrier backend to try after this one (by priority), or the first one."""
        carriers = self.search(
            [
                ("kind", "=", "carrier"),
                ("adapter", "=", "easypost"),
                ("company_id", "=", company.id),
            ],
            order="sequence, id",
        )
        if not self:
            return carriers[:1]
        later = carriers.filtered(lambda c: (c.sequence, c.id) > (self.sequence, self.id))
        return later[:1]

    def _webhook_partner_event_id(self, data, events):
        """An EasyPost webhook message keeps EasyPost's Event id as its partner event id even
        when it carries no canonical event (other events, statuses mapped to nothing or not
        mapped yet): a redelivery of the same Event is a duplicate all the same."""
        event_id = super()._webhook_partner_event_id(data, events)
        if event_id is None and self.adapter == "easypost":
            return easypost.event_id(data)
        return event_id
