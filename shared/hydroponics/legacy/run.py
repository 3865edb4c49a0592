"""One import of a legacy file: the tables in order (parents first), each in its own transaction
with its ledger rows, verified as it commits; tables already finished are verified again, not
imported again. A dry run does it all in one transaction and rolls it back."""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from uuid import UUID

from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from hydroponics.db.engine import database_url
from hydroponics.legacy import ledger
from hydroponics.legacy.crops import Crops, Harvests, Stages, Varieties
from hydroponics.legacy.farm import Calibrations, Clients, Events, LegacyKeys, Sensors
from hydroponics.legacy.normalise import Normaliser, Refused
from hydroponics.legacy.readings import import_readings, verify_readings
from hydroponics.legacy.report import ImportReport, TableReport
from hydroponics.legacy.source import LegacyDatabase
from hydroponics.legacy.tables import Context, TableImporter, checksum, legacy_id
from hydroponics.observability import logger
from hydroponics.settings import get_settings

IMPORTERS: tuple[type[TableImporter], ...] = (Clients, Sensors, Varieties, Stages, Crops, Harvests, Calibrations,
                                              Events)


class ImportStopped(RuntimeError):
    """The import stopped part way; what committed stays, a rerun finishes the job."""


def _sessions() -> sessionmaker[Session]:
    """Sessions of the import's own engine: the functions' engine gives up on an answer after 5 s
    (connect_args timeout), and moving a million readings takes longer than that."""
    return sessionmaker(create_engine(database_url(get_settings()), poolclass=NullPool,
                                      connect_args={"timeout": None}), expire_on_commit=False)


@contextmanager
def _unit(sessions: sessionmaker[Session], shared: Session | None) -> Iterator[Session]:
    """A table's transaction; in a dry run, the one shared transaction (rolled back at the end)."""
    if shared is not None:
        yield shared
        return
    with sessions.begin() as session:
        yield session


def import_legacy(path: Path, client_map: dict[str, UUID] | None = None, *, dry_run: bool = False) -> ImportReport:
    """Import (or, dry, rehearse) the legacy file at `path`; returns the verification report."""
    source = LegacyDatabase(path)
    try:
        return _import(source, client_map or {}, dry_run)
    finally:
        source.close()


def _import(source: LegacyDatabase, client_map: dict[str, UUID], dry_run: bool) -> ImportReport:
    report = ImportReport(str(source.path), source.hash, dry_run)
    report.unknown_columns = {name: list(t.unknown_columns) for name, t in source.tables.items() if t.unknown_columns}
    ctx = Context(source.hash, client_map)
    sessions = _sessions()
    shared = sessions() if dry_run else None
    if shared is not None:
        shared.begin()
    try:
        with _unit(sessions, shared) as session:
            done = ledger.finished_tables(session, source.hash)
            for importer in IMPORTERS:
                ctx.maps[importer.table] = ledger.id_map(session, source.hash, importer.table)
            for refusal in ledger.refusals(session, source.hash):
                ctx.maps.setdefault(f"{refusal['table']}:refused", {})[refusal["legacy_id"]] = refusal["reason"]
        for importer_class in IMPORTERS:
            importer = importer_class()
            if importer.table not in source.tables:
                continue
            with _unit(sessions, shared) as session:
                if importer.table in done:
                    report.tables[importer.table] = _verify_done(session, importer, done[importer.table], ctx, source)
                else:
                    report.tables[importer.table] = _import_table(session, importer, ctx, source, report, dry_run)
            logger.debug("legacy table imported", extra={"table": importer.table, "dry_run": dry_run})
        if "readings" in source.tables:
            with _unit(sessions, shared) as session:
                report.tables["readings"] = (_verify_readings_done(session, done["readings"], source)
                                             if "readings" in done else _import_readings(session, ctx, source, dry_run))
        with _unit(sessions, shared) as session:
            report.refused = ledger.refusals(session, source.hash) if not dry_run else _dry_refusals(ctx)
            report.clients = dict(sorted(ctx.map("clients").items()))
            if not dry_run:
                report.keys["indexed"] = LegacyKeys.index(session, sorted(set(ctx.map("clients").values())))
        report.kept_as_text, report.findings = ctx.kept_as_text, ctx.findings
    finally:
        if shared is not None:
            shared.rollback()
            shared.close()
        sessions.kw["bind"].dispose()
    return report


def _dry_refusals(ctx: Context) -> list[dict[str, str]]:
    return sorted(({"table": name.removesuffix(":refused"), "legacy_id": legacy, "reason": reason}
                   for name, refused in ctx.maps.items() if name.endswith(":refused")
                   for legacy, reason in refused.items()), key=lambda r: (r["table"], r["legacy_id"]))


def _import_table(session: Session, importer: TableImporter, ctx: Context, source: LegacyDatabase,
                  report: ImportReport, dry_run: bool) -> TableReport:
    table = importer.table
    result = TableReport(source_rows=source.count(table))
    importer.begin(session, ctx)
    n = Normaliser()
    prepared, refused, seen = [], [], set()
    refused_map = ctx.maps.setdefault(f"{table}:refused", {})
    for row in source.rows(table):
        legacy = legacy_id(row["id"])
        n.next_row()
        try:
            if not legacy:
                raise Refused("id is missing")
            if legacy in seen:
                raise Refused(f"a second row with legacy id {legacy}")
            seen.add(legacy)
            prepared.append(importer.prepare(row, n, ctx))
        except Refused as refusal:
            n.refuse_row()
            refused.append((legacy or "(missing)", None, str(refusal)))
            refused_map[legacy or "(missing)"] = str(refusal)
    importer.insert(session, prepared, ctx)
    for row in prepared:
        ctx.map(table)[row.legacy_id] = row.target_id
    importer.after(session, [r for r in prepared if not r.merged], ctx)
    if table == "clients":
        aliases = {r.target_id: r.legacy_id for r in prepared}
        report.keys, key_refusals = LegacyKeys.insert(session, importer.keys, aliases)
        # the client itself is imported; its key is listed as refused under api_keys
        ledger.record(session, ctx.source_hash, "api_keys", [(alias, None, why) for alias, why in key_refusals])
        ctx.maps.setdefault("api_keys:refused", {}).update(dict(key_refusals))
    ledger.record(session, ctx.source_hash, table, [(r.legacy_id, r.target_id, None) for r in prepared] + refused)
    own = [r for r in prepared if not r.merged]
    result.imported, result.merged = len(own), len(prepared) - len(own)
    result.refused = result.source_rows - len(prepared)
    result.normalised = dict(sorted(n.counts.items()))
    result.source_checksum = checksum((r.legacy_id, r.canon) for r in own)
    _verify(session, importer, result, ctx, [r.legacy_id for r in own])
    if not dry_run:
        ledger.finish(session, ctx.source_hash, table, {
            "imported": result.imported, "merged": result.merged, "refused": result.refused,
            "merged_ids": [r.legacy_id for r in prepared if r.merged], "normalised": result.normalised,
            "source_checksum": result.source_checksum})
    return result


def _verify(session: Session, importer: TableImporter, result: TableReport, ctx: Context, own: list[str]) -> None:
    """Target rows, checksum and foreign keys, read back from PostgreSQL."""
    ids = sorted(set(ctx.map(importer.table).values()))
    held = importer.read_back(session, ids, ctx) if ids else {}
    result.target_rows = len(held)
    mapping = ctx.map(importer.table)
    result.target_checksum = checksum((legacy, held[mapping[legacy]]) for legacy in own if mapping[legacy] in held)
    own_ids = [mapping[legacy] for legacy in own]
    result.foreign_keys = importer.check_keys(session, own_ids)


def _verify_done(session: Session, importer: TableImporter, counts: dict, ctx: Context,
                 source: LegacyDatabase) -> TableReport:
    result = TableReport(source_rows=source.count(importer.table), already_imported=counts["imported"],
                         merged=counts["merged"], refused=counts["refused"], normalised=counts["normalised"],
                         source_checksum=counts["source_checksum"])
    merged = set(counts["merged_ids"])
    _verify(session, importer, result, ctx, [legacy for legacy in ctx.map(importer.table) if legacy not in merged])
    return result


def _import_readings(session: Session, ctx: Context, source: LegacyDatabase, dry_run: bool) -> TableReport:
    n = Normaliser()
    outcome = import_readings(session, source, ctx, n)
    ledger.record(session, ctx.source_hash, "readings", [(legacy, None, reason) for legacy, reason in outcome.refused])
    refused_map = ctx.maps.setdefault("readings:refused", {})
    refused_map.update(dict(outcome.refused))
    counts = {"imported": outcome.imported, "merged": outcome.already_present, "refused": len(outcome.refused),
              "normalised": dict(sorted(n.counts.items())), "source_checksum": str(outcome.checksum),
              "sensors_registered": outcome.sensors_registered, "partitions_created": outcome.partitions_created,
              "sensor_ids": outcome.sensor_ids, "first": outcome.first and outcome.first.isoformat(),
              "last": outcome.last and outcome.last.isoformat()}
    if not dry_run:
        ledger.finish(session, ctx.source_hash, "readings", counts)
    return TableReport(source_rows=outcome.source_rows, imported=outcome.imported, merged=outcome.already_present,
                       refused=len(outcome.refused), target_rows=outcome.target_rows,
                       source_checksum=str(outcome.checksum), target_checksum=str(outcome.target_checksum),
                       normalised=counts["normalised"] | {"sensors_registered_from_readings": outcome.sensors_registered}
                       if outcome.sensors_registered else counts["normalised"],
                       foreign_keys={"sensor_id": {"checked": outcome.target_rows, "broken": outcome.broken}})


def _verify_readings_done(session: Session, counts: dict, source: LegacyDatabase) -> TableReport:
    rows, total, broken = verify_readings(session, counts["sensor_ids"], counts["first"], counts["last"])
    normalised = counts["normalised"] | ({"sensors_registered_from_readings": counts["sensors_registered"]}
                                         if counts["sensors_registered"] else {})
    return TableReport(source_rows=source.count("readings"), already_imported=counts["imported"],
                       merged=counts["merged"], refused=counts["refused"], target_rows=rows,
                       source_checksum=counts["source_checksum"], target_checksum=str(total), normalised=normalised,
                       foreign_keys={"sensor_id": {"checked": rows, "broken": broken}})
