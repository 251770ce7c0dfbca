def migrate(cr, version):
    """Shipments get the sales channel of their order (``logistics.shipment.channel_id``)."""
    cr.execute(
        """
        UPDATE logistics_shipment s SET channel_id = o.team_id
          FROM sale_order o
         WHERE o.id = s.sale_id AND s.channel_id IS NULL AND o.team_id IS NOT NULL
        """
    )
