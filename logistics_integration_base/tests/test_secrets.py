import os
from unittest.mock import patch

from cryptography.fernet import Fernet

from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models import secret_cipher

from .common import LogisticsCase


class TestSecrets(LogisticsCase):
    def stored_token(self, backend, name="api_key"):
        self.env.cr.execute(
            f"SELECT {name}_token FROM logistics_backend WHERE id = %s",  # noqa: S608 - fixed names
            [backend.id],
        )
        return self.env.cr.fetchone()[0]

    def test_round_trip_encrypted_at_rest(self):
        self.wms.api_key = "sk_live_abc123"
        token = self.stored_token(self.wms)
        self.assertTrue(token)
        self.assertNotIn("sk_live_abc123", token)
        self.assertEqual(self.wms._get_secret("api_key"), "sk_live_abc123")
        self.assertTrue(self.wms.api_key_is_set)
        # Write-only: reading gives nothing back, to anyone.
        self.wms.invalidate_recordset()
        self.assertFalse(self.wms.api_key)
        self.assertFalse(self.wms.read(["api_key"])[0]["api_key"])

    def test_secret_never_in_columns_reachable_by_orm(self):
        self.wms.webhook_secret = "whsec_topsecret"
        values = self.wms.with_user(self.manager).read()[0]
        self.assertNotIn("whsec_topsecret", repr(values))
        admin = self.env.ref("base.user_admin")
        exported = self.wms.with_user(admin).export_data(
            ["webhook_secret", "webhook_secret_is_set"]
        )
        self.assertNotIn("whsec_topsecret", repr(exported))
        self.assertEqual(exported["datas"], [["", True]])

    def test_key_rotation(self):
        old_key = secret_cipher._configured_keys()[0]
        new_key = Fernet.generate_key().decode()
        self.wms.api_key = "rotate-me"
        before = self.stored_token(self.wms)
        with patch.dict(os.environ, {"LOGISTICS_SECRET_KEY": f"{new_key},{old_key}"}):
            self.env["logistics.backend"].with_user(self.manager).action_rotate_secret_key()
            after = self.stored_token(self.wms)
            self.assertNotEqual(before, after)
        with patch.dict(os.environ, {"LOGISTICS_SECRET_KEY": new_key}):
            self.assertEqual(self.wms._get_secret("api_key"), "rotate-me")
        with patch.dict(os.environ, {"LOGISTICS_SECRET_KEY": old_key}):
            with self.assertRaisesRegex(UserError, "can't be decrypted"):
                self.wms._get_secret("api_key")
        log = self.env["logistics.audit.log"].search(
            [("action", "=", "key_rotated"), ("res_id", "=", self.wms.id)]
        )
        self.assertEqual(log.user_id, self.manager)

    def test_rotation_is_for_managers(self):
        with self.assertRaises(UserError):
            self.env["logistics.backend"].with_user(self.user).action_rotate_secret_key()

    def test_missing_key_is_a_clear_error_not_plaintext(self):
        with (
            patch.dict(os.environ, {"LOGISTICS_SECRET_KEY": ""}),
            patch.object(secret_cipher, "config", {"config": None}),
        ):
            with self.assertRaisesRegex(UserError, "No encryption key for backend secrets"):
                self.wms.api_key = "would-be-plaintext"
        self.assertFalse(self.stored_token(self.wms))

    def test_secret_changes_are_audited_without_the_value(self):
        self.wms.with_user(self.manager).api_key = "sk_audit_me"
        self.wms.with_user(self.manager).with_context(secret_name="api_key").action_clear_secret()
        logs = self.env["logistics.audit.log"].search(
            [
                ("model", "=", "logistics.backend"),
                ("res_id", "=", self.wms.id),
                ("action", "like", "secret_"),
            ]
        )
        self.assertEqual(sorted(logs.mapped("action")), ["secret_cleared", "secret_set"])
        self.assertTrue(all(log.user_id == self.manager for log in logs))
        self.assertNotIn("sk_audit_me", repr(logs.read()))
        self.assertFalse(self.wms.api_key_is_set)
