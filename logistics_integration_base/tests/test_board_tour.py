from odoo.tests import HttpCase, new_test_user, tagged

from .common import GROUP_USER


@tagged("post_install", "-at_install")
class TestExceptionBoardInBrowser(HttpCase):
    """The exception board in a real Chromium (issue 13): a grouped card, its quick actions."""

    def test_assign_a_card_to_me_with_a_quick_action(self):
        user = new_test_user(self.env, "board_user", groups=f"base.group_user,{GROUP_USER}")
        backend = self.env["logistics.backend"].create(
            {"name": "Tour Carrier", "code": "tour_carrier", "kind": "carrier"}
        )
        shipments = self.env["logistics.shipment"].search([], limit=2)
        self.assertEqual(len(shipments), 2, "the demo data has shipments")
        Exception_ = self.env["logistics.exception"].sudo()
        for shipment in [*shipments, shipments[0]]:
            exception = Exception_._raise(
                "partner_unavailable",
                [
                    {
                        "name": "Tour Carrier refuses our credentials",
                        "cause": "credentials_refused",
                        "backend_id": backend.id,
                        "shipment_id": shipment.id,
                    }
                ],
            )
        self.assertEqual(exception.occurrence_count, 3)
        self.start_tour("/odoo", "logistics_board_assign_to_me", login=user.login)
        self.assertEqual(exception.user_id, user)
        log = self.env["logistics.audit.log"].search(
            [("action", "=", "assign"), ("res_id", "=", exception.id)]
        )
        self.assertEqual(log.user_id, user)
