"""The no-data check (every minute): sensors silent for longer than their rule allows get an alert.

A sensor in the scope of an enabled no_data rule is silent when its newest reading (or, never having
reported, its registration) is older than after_seconds (default 3x its expected interval) plus the
rule's for_seconds. One statement finds the silent pairs and marks their rule state firing, only
where it is not firing already and no newer reading has been evaluated meanwhile (the state row is
locked, so a batch evaluated concurrently either went first and is seen, or waits). Each such pair
opens one alert through the usual lifecycle (silences, event, notifications). The next reading from
the sensor resolves it: the engine treats every reading as clearing a no_data rule.
"""

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.alerts.lifecycle import Notice, open_or_repeat
from hydroponics.alerts.silencing import active_silences
from hydroponics.db.sql import statement
from hydroponics.rules.cache import load_rules

JOB = "no_data"

_SILENT_SENSORS = statement("""
WITH silent AS (
    SELECT r.id AS rule_id, s.id AS sensor_id, s.last_recorded_at, s.external_id, s.location, s.sensor_type,
           s.expected_interval_seconds,
           coalesce((r.condition->>'after_seconds')::integer, 3 * s.expected_interval_seconds) AS after_seconds
    FROM rules r
    JOIN sensors s ON s.client_id = r.client_id AND s.is_active
     AND (r.sensor_id IS NULL OR r.sensor_id = s.id)
     AND (r.sensor_type IS NULL OR r.sensor_type = s.sensor_type)
     AND (r.location IS NULL OR r.location = s.location)
     AND (r.crop_id IS NULL OR EXISTS (SELECT 1 FROM crops c WHERE c.id = r.crop_id AND c.status = 'active'
                                                             AND c.location = s.location))
    WHERE r.is_enabled AND r.condition->>'kind' = 'no_data'
      AND coalesce(s.last_recorded_at, s.created_at) < CAST(:now AS timestamptz) - make_interval(secs =>
          coalesce((r.condition->>'after_seconds')::integer, 3 * s.expected_interval_seconds)
          + coalesce((r.condition->>'for_seconds')::integer, 0))
), marked AS (
    INSERT INTO rule_states AS st (rule_id, sensor_id, state, pending_since, last_recorded_at)
    SELECT rule_id, sensor_id, 'firing', :now, last_recorded_at FROM silent ORDER BY rule_id, sensor_id
    ON CONFLICT (rule_id, sensor_id) DO UPDATE SET state = 'firing', pending_since = EXCLUDED.pending_since,
                                                   updated_at = now()
    WHERE st.state <> 'firing'
      AND (st.last_recorded_at IS NULL OR EXCLUDED.last_recorded_at IS NULL
           OR st.last_recorded_at <= EXCLUDED.last_recorded_at)
    RETURNING st.rule_id, st.sensor_id
)
SELECT si.* FROM silent si JOIN marked m USING (rule_id, sensor_id) ORDER BY si.rule_id, si.sensor_id
""")

_NO_DATA_CLIENTS = text("SELECT DISTINCT client_id FROM rules WHERE is_enabled AND condition->>'kind' = 'no_data'")


def _notice(rule_name: str, severity: str, row, now: datetime) -> Notice:
    since = f"since {row.last_recorded_at.isoformat()}" if row.last_recorded_at else "since it was registered"
    return Notice(
        subject=f"[{severity}] {rule_name}: no data from {row.external_id} at {row.location}",
        body=(f"{rule_name}: sensor {row.external_id} ({row.sensor_type}) at {row.location} has sent no reading "
              f"{since} (checked {now.isoformat()}; allowed silence {row.after_seconds} s, "
              f"expected every {row.expected_interval_seconds} s)."))


def check_silent_sensors(session: Session, now: datetime) -> dict[str, int]:
    """Open a no-data alert for each newly silent sensor of each enabled no_data rule."""
    silent = session.execute(_SILENT_SENSORS, {"now": now}).all()
    if not silent:
        return {"silent_sensors": 0, "alerts_opened": 0}
    client_ids = set(session.scalars(_NO_DATA_CLIENTS))
    rules = {rule.id: rule for rules in load_rules(session, client_ids).values() for rule in rules}
    silences = active_silences(session, client_ids, now)
    opened = 0
    for row in silent:
        rule = rules.get(row.rule_id)
        if rule is None:  # its condition no longer parses: skipped and logged by load_rules
            continue
        change = open_or_repeat(session, rule, sensor_id=row.sensor_id, location=row.location, value=None,
                                seen_at=row.last_recorded_at, notice=_notice(rule.name, rule.severity, row, now),
                                now=now, silences=silences)
        opened += change.opened
    return {"silent_sensors": len(silent), "alerts_opened": opened}

