"""Importers of the growing records: varieties, their stage profiles (the legacy growth_stages),
crops (with their growth stages opened as planting one opens them) and harvests."""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from hydroponics.legacy.farm import client_of, parent
from hydroponics.legacy.normalise import Normaliser, Refused
from hydroponics.legacy.tables import Context, Prepared, TableImporter, insert_json, legacy_id, new_id

_IDS = "CAST(:ids AS uuid[])"
STATUSES = {"active": "active", "growing": "active", "planted": "active", "harvested": "harvested",
            "done": "harvested", "complete": "harvested", "completed": "harvested", "failed": "failed",
            "lost": "failed", "dead": "failed"}


class Varieties(TableImporter):
    table, target = "varieties", "varieties"
    foreign_keys = {"client_id": f"SELECT count(*) FROM varieties v LEFT JOIN clients c ON c.id = v.client_id"
                                 f" WHERE v.id = ANY({_IDS}) AND c.id IS NULL"}

    def begin(self, session: Session, ctx: Context) -> None:
        self.known = {(str(r.client_id), r.name): str(r.id) for r in session.execute(
            text(f"SELECT id, client_id, name FROM varieties WHERE client_id = ANY({_IDS})"),
            {"ids": list(set(ctx.map("clients").values()))})}
        self.first_of: dict[tuple[str, str], str] = {}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        client = parent(ctx, "clients", row.get("client_id"), "client_id")
        name = n.text(row.get("name"), "name", required=True)
        first = self.first_of.get((client, name))
        if first is not None:
            raise Refused(f"same name as variety {first} of the same client ({name!r})")
        existing = self.known.get((client, name))
        values = {"id": existing or new_id(), "client_id": client, "name": name,
                  "description": n.text(row.get("description"), "description")}
        self.first_of[(client, name)] = legacy
        return Prepared(legacy, values["id"], values, (legacy_id(row.get("client_id")), name, values["description"]),
                        merged=existing is not None)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO varieties (id, client_id, name, description)
            SELECT id, client_id, name, description
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, client_id uuid, name text, description text)""",
                    [r.values for r in rows if not r.merged])

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        clients = ctx.reverse("clients")
        rows = session.execute(text(f"SELECT id, client_id, name, description FROM varieties WHERE id = ANY({_IDS})"),
                               {"ids": ids})
        return {str(r.id): (clients.get(str(r.client_id)), r.name, r.description) for r in rows}


class Stages(TableImporter):
    """Legacy growth_stages are a variety's profile (variety_id, order, days, targets): variety_stages."""

    table, target = "growth_stages", "variety_stages"
    foreign_keys = {"variety_id": f"SELECT count(*) FROM variety_stages s LEFT JOIN varieties v ON v.id = s.variety_id"
                                  f" WHERE s.id = ANY({_IDS}) AND v.id IS NULL"}

    def begin(self, session: Session, ctx: Context) -> None:
        self.taken: dict[tuple[str, str, Any], str] = {
            (str(r.variety_id), kind, value): "an existing stage" for r in session.execute(
                text(f"SELECT variety_id, stage_order, name FROM variety_stages WHERE variety_id = ANY({_IDS})"),
                {"ids": list(set(ctx.map("varieties").values()))})
            for kind, value in (("order", r.stage_order), ("name", r.name))}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        variety = parent(ctx, "varieties", row.get("variety_id"), "variety_id")
        name = n.text(row.get("name"), "name", required=True)
        order = n.integer(row.get("stage_order"), "stage_order", required=True)
        days = n.integer(row.get("duration_days"), "duration_days", required=True)
        if order < 0:
            raise Refused(f"stage_order must not be negative: {order}")
        if days <= 0:
            raise Refused(f"duration_days must be positive: {days}")
        targets, raw = n.json_object(row.get("targets"), "targets")
        if raw is not None:
            raise Refused(f"targets is not a JSON object: {raw!r}")
        for kind, value in (("order", order), ("name", name)):
            holder = self.taken.get((variety, kind, value))
            if holder is not None:
                raise Refused(f"stage {kind} {value!r} of variety {legacy_id(row.get('variety_id'))} is taken by {holder}")
        for kind, value in (("order", order), ("name", name)):
            self.taken[(variety, kind, value)] = f"growth_stages {legacy}"
        values = {"id": new_id(), "variety_id": variety, "name": name, "stage_order": order, "duration_days": days,
                  "targets": targets}
        return Prepared(legacy, values["id"], values, (legacy_id(row.get("variety_id")), name, order, days, targets))

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO variety_stages (id, variety_id, name, stage_order, duration_days, targets)
            SELECT id, variety_id, name, stage_order, duration_days, targets
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, variety_id uuid, name text, stage_order integer,
                 duration_days integer, targets jsonb)""", [r.values for r in rows])

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        varieties = ctx.reverse("varieties")
        rows = session.execute(text("SELECT id, variety_id, name, stage_order, duration_days, targets"
                                    f" FROM variety_stages WHERE id = ANY({_IDS})"), {"ids": ids})
        return {str(r.id): (varieties.get(str(r.variety_id)), r.name, r.stage_order, r.duration_days, r.targets)
                for r in rows}


# A crop's growth stages as planting opens them (crops/crops.py): each stage starts when the ones
# before it add up; those whose time has come are recorded, the one running at its close (or now) open.
_OPEN_STAGES = """
WITH imported AS (
    SELECT c.id, c.variety_id, c.planted_at, coalesce(c.closed_at, now()) AS until
    FROM crops c WHERE c.id = ANY(CAST(:ids AS uuid[]))
), schedule AS (
    SELECT i.id AS crop_id, i.until, s.id, s.name, s.stage_order,
           i.planted_at + make_interval(days => (coalesce(sum(s.duration_days) OVER before, 0))::integer) AS started_at,
           i.planted_at + make_interval(days => (sum(s.duration_days) OVER upto)::integer) AS due_at,
           min(s.stage_order) OVER (PARTITION BY i.id) AS first_order
    FROM imported i JOIN variety_stages s ON s.variety_id = i.variety_id
    WINDOW before AS (PARTITION BY i.id ORDER BY s.stage_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           upto AS (PARTITION BY i.id ORDER BY s.stage_order ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
INSERT INTO growth_stages (crop_id, variety_stage_id, stage_name, stage_order, started_at, due_at, completed_at)
SELECT crop_id, id, name, stage_order, started_at, due_at, CASE WHEN due_at <= until THEN due_at END
FROM schedule WHERE stage_order = first_order OR started_at <= until
"""


class Crops(TableImporter):
    table, target = "crops", "crops"
    foreign_keys = {"variety_id": f"SELECT count(*) FROM crops c LEFT JOIN varieties v ON v.id = c.variety_id"
                                  f" AND v.client_id = c.client_id WHERE c.id = ANY({_IDS}) AND v.id IS NULL"}

    def begin(self, session: Session, ctx: Context) -> None:
        self.variety_client = {k: str(v) for k, v in
                               client_of(session, "varieties", list(set(ctx.map("varieties").values()))).items()}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        client = parent(ctx, "clients", row.get("client_id"), "client_id")
        variety = parent(ctx, "varieties", row.get("variety_id"), "variety_id")
        if self.variety_client.get(variety) != client:
            raise Refused(f"variety {legacy_id(row.get('variety_id'))} belongs to another client")
        where = n.text(row.get("location"), "location", required=True)
        batch = n.text(row.get("batch_code"), "batch_code")
        if batch is None:
            batch = f"legacy-{legacy}"
            n.count("batch_code_from_legacy_id")
        planted = n.moment(row.get("planted_at"), "planted_at", required=True)
        raw_status = n.text(row.get("status"), "status", lower=True) or "active"
        status = STATUSES.get(raw_status)
        if status is None:
            raise Refused(f"status is not one the platform knows: {row.get('status')!r}")
        if status != raw_status:
            n.count("crop_status_renamed")
        closed = n.moment(row.get("closed_at"), "closed_at")
        if closed is not None and closed < planted:
            raise Refused("closed_at is before planted_at")
        values = {"id": new_id(), "client_id": client, "variety_id": variety, "location": where, "batch_code": batch,
                  "planted_at": planted, "status": status, "closed_at": closed}
        canon = (legacy_id(row.get("client_id")), legacy_id(row.get("variety_id")), where, batch, planted, status,
                 closed)
        return Prepared(legacy, values["id"], values, canon)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO crops (id, client_id, variety_id, location, batch_code, planted_at, status, closed_at)
            SELECT id, client_id, variety_id, location, batch_code, planted_at, status, closed_at
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, client_id uuid, variety_id uuid, location text,
                 batch_code text, planted_at timestamptz, status text, closed_at timestamptz)""",
                    [r.values for r in rows])

    def after(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        if rows:
            session.execute(text(_OPEN_STAGES), {"ids": [r.target_id for r in rows]})

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        clients, varieties = ctx.reverse("clients"), ctx.reverse("varieties")
        rows = session.execute(text("SELECT id, client_id, variety_id, location, batch_code, planted_at, status,"
                                    f" closed_at FROM crops WHERE id = ANY({_IDS})"), {"ids": ids})
        return {str(r.id): (clients.get(str(r.client_id)), varieties.get(str(r.variety_id)), r.location, r.batch_code,
                            r.planted_at, r.status, r.closed_at) for r in rows}


class Harvests(TableImporter):
    table, target = "harvests", "harvests"
    foreign_keys = {"crop_id": f"SELECT count(*) FROM harvests h LEFT JOIN crops c ON c.id = h.crop_id"
                               f" AND c.client_id = h.client_id WHERE h.id = ANY({_IDS}) AND c.id IS NULL"}

    def begin(self, session: Session, ctx: Context) -> None:
        crops = list(set(ctx.map("crops").values()))
        self.crop_client = {k: str(v) for k, v in client_of(session, "crops", crops).items()}
        self.harvested = {str(r.crop_id): "an existing harvest" for r in session.execute(
            text(f"SELECT crop_id FROM harvests WHERE crop_id = ANY({_IDS})"), {"ids": crops})}

    def prepare(self, row: dict[str, Any], n: Normaliser, ctx: Context) -> Prepared:
        legacy = legacy_id(row["id"])
        crop = parent(ctx, "crops", row.get("crop_id"), "crop_id")
        if crop in self.harvested:
            raise Refused(f"crop {legacy_id(row.get('crop_id'))} already has {self.harvested[crop]}")
        at = n.moment(row.get("harvested_at"), "harvested_at", required=True)
        amount = n.number(row.get("yield_amount"), "yield_amount")
        if amount is not None:
            if amount < 0:
                raise Refused(f"yield_amount is negative: {amount:g}")
            exact = Decimal(repr(amount))
            rounded = exact.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
            if rounded != exact:
                n.count("yield_rounded_to_grams")
            amount = float(rounded)
        self.harvested[crop] = f"harvest {legacy}"
        values = {"id": new_id(), "crop_id": crop, "client_id": self.crop_client[crop], "harvested_at": at,
                  "yield_amount": amount, "yield_unit": n.text(row.get("yield_unit"), "yield_unit"),
                  "quality_grade": n.text(row.get("quality_grade"), "quality_grade"),
                  "notes": n.text(row.get("notes"), "notes")}
        canon = (legacy_id(row.get("crop_id")), at, amount, values["yield_unit"], values["quality_grade"],
                 values["notes"])
        return Prepared(legacy, values["id"], values, canon)

    def insert(self, session: Session, rows: list[Prepared], ctx: Context) -> None:
        insert_json(session, """
            INSERT INTO harvests (id, crop_id, client_id, harvested_at, yield_amount, yield_unit, quality_grade, notes)
            SELECT id, crop_id, client_id, harvested_at, yield_amount, yield_unit, quality_grade, notes
            FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, crop_id uuid, client_id uuid,
                 harvested_at timestamptz, yield_amount numeric, yield_unit text, quality_grade text, notes text)""",
                    [r.values for r in rows])

    def read_back(self, session: Session, ids: list[str], ctx: Context) -> dict[str, tuple]:
        crops = ctx.reverse("crops")
        rows = session.execute(text("SELECT id, crop_id, harvested_at, yield_amount, yield_unit, quality_grade, notes"
                                    f" FROM harvests WHERE id = ANY({_IDS})"), {"ids": ids})
        return {str(r.id): (crops.get(str(r.crop_id)), r.harvested_at, r.yield_amount, r.yield_unit, r.quality_grade,
                            r.notes) for r in rows}
