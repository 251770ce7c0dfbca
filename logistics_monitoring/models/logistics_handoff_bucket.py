import math

from odoo import api, fields, models
from odoo.tools import SQL

# Bucket width of the latency histogram: each bucket spans 5 % of (1 + seconds), so a
# percentile read from it is within 2.5 % of the exact one (Prometheus' native histograms use
# 9 % by default). 1 % buckets held 405,000 rows for the benchmark's 900,000 hand-offs, too
# many to read in the dashboard's budget; 5 % buckets, a fifth of that.
GROWTH = 1.05
LOG_GROWTH = math.log(GROWTH)


def bucket_value(bucket):
    """The latency in seconds a histogram bucket stands for (its centre)."""
    magnitude = GROWTH ** abs(bucket) - 1
    return math.copysign(magnitude, bucket)


def histogram_percentile(buckets, fraction):
    """``percentile_cont(fraction)`` over a histogram ``[(bucket, count)]`` sorted by bucket,
    each value taken as its bucket's centre (linear interpolation between the closest ranks,
    as PostgreSQL does over the values)."""
    total = sum(count for _bucket, count in buckets)
    if not total:
        return 0.0
    position = fraction * (total - 1)
    lower_rank, upper_rank = math.floor(position), math.ceil(position)
    lower = upper = None
    seen = 0
    for bucket, count in buckets:
        seen += count
        if lower is None and seen > lower_rank:
            lower = bucket_value(bucket)
        if seen > upper_rank:
            upper = bucket_value(bucket)
            break
    return lower + (upper - lower) * (position - lower_rank)


class LogisticsHandoffBucket(models.Model):
    """The hand-off latency histogram: hand-offs per day, hand-off, reporting backend, company
    and latency bucket (5 % wide, log scale), recounted from ``logistics.handoff`` for the days
    a rollup run touched.

    The dashboard's percentiles over a window of more than ``logistics_monitoring
    .latency_exact_rows`` hand-offs (50,000 by default) come from here (within 2.5 %): a month
    of the benchmark's data set is 300,000 hand-offs, whose exact percentiles cost more than
    the dashboard's whole time budget, and a few thousand histogram rows here. Smaller windows,
    and windows narrowed by warehouse, carrier, channel or backend, get exact percentiles from
    the rollup itself (``percentile_cont``).
    """

    _name = "logistics.handoff.bucket"
    _description = "Logistics Hand-off Latency Histogram"
    _order = "day desc"
    _log_access = False

    day = fields.Date(required=True, readonly=True, help="Day of the later milestone (UTC).")
    from_type_id = fields.Many2one("logistics.event.type", required=True, readonly=True)
    to_type_id = fields.Many2one("logistics.event.type", required=True, readonly=True)
    backend_id = fields.Many2one("logistics.backend", string="Reported By", readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    bucket = fields.Integer(
        readonly=True, aggregator=None, help="round(ln(1 + |seconds|) / ln(1.05)), signed."
    )
    count = fields.Integer(readonly=True)

    _day_idx = models.Index(
        "(day) INCLUDE (from_type_id, to_type_id, backend_id, company_id, bucket, count)"
    )

    @api.model
    def _recount(self, days_table):
        """Count again the histogram of the days listed in the temporary table ``days_table``
        (one ``day`` column) from the hand-off rollup."""
        cr = self.env.cr
        days = SQL.identifier(days_table)
        cr.execute(SQL("ANALYZE %s", days))
        cr.execute(
            SQL(
                "DELETE FROM logistics_handoff_bucket b USING %s d WHERE b.day = d.day",
                days,
            )
        )
        cr.execute(
            SQL(
                """
                INSERT INTO logistics_handoff_bucket (day, from_type_id, to_type_id,
                    backend_id, company_id, bucket, count)
                SELECT h.to_at::date, h.from_type_id, h.to_type_id, h.backend_id, h.company_id,
                       (sign(h.seconds) * round(ln(1 + abs(h.seconds)) / ln(%s)))::int,
                       count(*)
                  FROM logistics_handoff h
                  JOIN %s d ON d.day = h.to_at::date
                 WHERE h.to_at >= (SELECT min(day) FROM %s)
                   AND h.to_at < (SELECT max(day) FROM %s) + 1
              GROUP BY 1, 2, 3, 4, 5, 6
                """,
                GROWTH,
                days,
                days,
                days,
            )
        )
