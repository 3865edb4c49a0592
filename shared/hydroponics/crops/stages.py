"""Stage advancement: one set-based statement completes every due growth stage and opens the next.

A stage completes at its due time (not at the hour the job runs), so the next stage starts where the
previous ended and a crop's schedule does not slip by up to an hour per stage. A crop in its last
stage has no next one: that stage completes and the crop stays active, awaiting harvest
(`crop.stages_completed`), until it is harvested. One pass advances a crop by one stage; a crop
more than one stage behind (the job was down for longer than a stage) catches up on later runs.

Safe to run twice or concurrently: due stages are locked with SKIP LOCKED, so a concurrent run
takes none of them, and a run after this one's commit finds them completed; the next stage is
inserted ON CONFLICT DO NOTHING against uq (crop_id, stage_order) and the one-open-stage-per-crop
index. Every change and the run itself land in events, in the same statement.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from hydroponics.db.sql import MOMENT, statement

JOB = "advance_stages"

# Its cost follows the number of due stages, not the size of the tables: the due scan goes through
# the partial index ix_growth_stages_due_at_active, the due ids come back as one array (the UPDATE
# then fetches them by primary key), and each due crop and its next stage are looked up by key
# (OFFSET 0 keeps those lookups per row: a hash join would read all of crops and variety_stages).
# The crop check keeps the stages of a closed crop (status 'failed') where they are.
ADVANCE_DUE_STAGES = statement("""
WITH completed AS (
    UPDATE growth_stages g SET completed_at = g.due_at
    WHERE g.id = ANY (ARRAY(
        SELECT s.id FROM growth_stages s
        WHERE s.completed_at IS NULL AND s.due_at <= :now
          AND (SELECT c.status FROM crops c WHERE c.id = s.crop_id) = 'active'
        FOR UPDATE OF s SKIP LOCKED))
    RETURNING g.crop_id, g.stage_name, g.stage_order, g.due_at
), advanced AS (
    SELECT d.crop_id, d.stage_name, d.stage_order, d.due_at, c.client_id, c.variety_id
    FROM completed d
    CROSS JOIN LATERAL (SELECT client_id, variety_id FROM crops WHERE id = d.crop_id OFFSET 0) c
), opened AS (
    INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order, started_at, due_at)
    SELECT a.crop_id, s.id, s.name, s.stage_order, a.due_at, a.due_at + make_interval(days => s.duration_days)
    FROM advanced a
    CROSS JOIN LATERAL (SELECT id, name, stage_order, duration_days FROM variety_stages
                        WHERE variety_id = a.variety_id AND stage_order = a.stage_order + 1 OFFSET 0) s
    ON CONFLICT DO NOTHING
    RETURNING crop_id, stage_name, stage_order, due_at
), logged AS (
    INSERT INTO events (client_id, event_type, actor, subject_type, subject_id, details, occurred_at)
    SELECT a.client_id, CASE WHEN o.crop_id IS NULL THEN 'crop.stages_completed' ELSE 'crop.stage_advanced' END,
           'scheduler', 'crop', a.crop_id::text,
           jsonb_build_object('completed_stage', a.stage_name, 'completed_order', a.stage_order,
                              'completed_at', a.due_at, 'next_stage', o.stage_name, 'next_order', o.stage_order,
                              'next_due_at', o.due_at),
           :now
    FROM advanced a LEFT JOIN opened o ON o.crop_id = a.crop_id
    UNION ALL
    SELECT NULL, 'job.ran', 'scheduler', 'job', :job,
           jsonb_build_object('job', CAST(:job AS text), 'stages_completed', (SELECT count(*) FROM completed)), :now
    RETURNING event_type
)
SELECT count(*) FILTER (WHERE event_type = 'crop.stage_advanced') AS stages_advanced,
       count(*) FILTER (WHERE event_type = 'crop.stages_completed') AS crops_awaiting_harvest
FROM logged
""", now=MOMENT)


def advance_due_stages(session: Session, now: datetime) -> dict[str, int]:
    """Completes every growth stage due at `now` and opens the next: one statement whatever the count."""
    return dict(session.execute(ADVANCE_DUE_STAGES, {"now": now, "job": JOB}).mappings().one())
