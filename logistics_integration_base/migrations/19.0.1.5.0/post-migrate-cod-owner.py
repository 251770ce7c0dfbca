"""19.0.1.5.0: ``cod_collected`` is the carrier's to report (it collects the cash at the door),
no longer finance's: the carrier's events of that type were stored as "not owner". The ownership
file is ``noupdate``, so an update would not change the rule the module's data created; a rule a
Manager changed by hand (no longer finance) is left as it is."""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE logistics_ownership_rule r SET owner_kind = 'carrier'
          FROM ir_model_data d
         WHERE d.model = 'logistics.ownership.rule' AND d.res_id = r.id
           AND d.module = 'logistics_integration_base' AND d.name = 'ownership_rule_cod_collected'
           AND r.owner_kind = 'finance'
        """
    )
