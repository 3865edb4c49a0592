"""The S3 archive: one object set per (table, client, month), a Parquet data object and its manifest.

Layout: `{table}/client={uuid|none}/month={YYYY-MM}/manifest.json` names the month's one data object
`data-{sha256 prefix}.parquet` (zstd) with its row count, min/max time, checksum and bytes. The data
key is content-addressed, so an object never changes once written: writing a month again (rows that
arrived late, or rows restored and expired again) merges them with what is archived (one row per
key), writes the merged set under a new key, verifies it by reading it back, and only then replaces
the manifest (S3 writes one object atomically: the manifest is the commit point) and removes the
superseded object. A crash at any point leaves the previous manifest or the new one, each naming a
verified object holding every row it claims.
"""

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from hydroponics.aws import client
from hydroponics.settings import get_settings

FORMAT = "hydroponics-archive/1"
MOMENT = pa.timestamp("us", tz="UTC")
ROW_GROUP_ROWS = 131_072  # rows are sorted by time: small groups let a range query skip most of a month


@dataclass(frozen=True)
class ArchivedTable:
    """What one archived table's files hold: the columns, the key, the time column, the checksummed columns."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...]
    time_column: str
    checksum_columns: tuple[str, ...]

    @property
    def order(self) -> list[tuple[str, str]]:
        return [(self.time_column, "ascending")] + [(k, "ascending") for k in self.key if k != self.time_column]


READINGS = ArchivedTable(
    name="readings",
    schema=pa.schema([
        ("sensor_id", pa.string()), ("client_id", pa.string()), ("recorded_at", MOMENT), ("value", pa.float64()),
        ("raw_value", pa.float64()), ("received_at", MOMENT),
        # the sensor as it was named when archived: the archive answers queries without PostgreSQL's help
        ("sensor", pa.string()), ("sensor_type", pa.string()), ("location", pa.string()),
    ]),
    key=("sensor_id", "recorded_at"),
    time_column="recorded_at",
    checksum_columns=("sensor_id", "client_id", "recorded_at", "value", "raw_value", "received_at"),
)

EVENTS = ArchivedTable(
    name="events",
    schema=pa.schema([
        ("id", pa.int64()), ("client_id", pa.string()), ("event_type", pa.string()), ("actor", pa.string()),
        ("subject_type", pa.string()), ("subject_id", pa.string()), ("details", pa.string()),
        ("occurred_at", MOMENT),
    ]),
    key=("id",),
    time_column="occurred_at",
    checksum_columns=("id", "client_id", "event_type", "actor", "subject_type", "subject_id", "details",
                      "occurred_at"),
)

TABLES = {t.name: t for t in (READINGS, EVENTS)}


class ArchiveError(RuntimeError):
    """An object set could not be written or did not read back as written: nothing may be deleted."""


@dataclass(frozen=True)
class Manifest:
    """What an object set holds; `covered_until`: the month's rows before it left PostgreSQL into here."""

    table: str
    client_id: str | None
    month: str  # YYYY-MM
    object_key: str
    bytes: int
    sha256: str
    row_count: int
    min_at: str | None
    max_at: str | None
    checksum: str
    covered_until: str
    run_id: str | None
    written_at: str
    format: str = FORMAT

    @property
    def key(self) -> str:
        return manifest_key(self.table, self.client_id, self.month)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()


def bucket() -> str:
    name = get_settings().archive_bucket
    if not name:
        raise ArchiveError("ARCHIVE_BUCKET is not configured")
    return name


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def prefix(table: str, client_id: UUID | str | None, month: date | str) -> str:
    label = month if isinstance(month, str) else month_label(month)
    return f"{table}/client={client_id or 'none'}/month={label}/"


def manifest_key(table: str, client_id: UUID | str | None, month: date | str) -> str:
    return prefix(table, client_id, month) + "manifest.json"


# ---------------------------------------------------------------- checksums


def _values(array: pa.Array, width: int) -> bytes:
    """The fixed-width values of an array without nulls, as bytes (its own slice of the data buffer)."""
    data = array.buffers()[1]
    return data.to_pybytes()[array.offset * width:(array.offset + len(array)) * width] if data is not None else b""


def _column_bytes(column: pa.Array) -> bytes:
    """The values of one column as bytes, nulls marked apart from the values they cover."""
    nulls = _values(pc.is_null(column).cast(pa.uint8()), 1)
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        filled = pc.fill_null(column, "").cast(pa.large_string())
        offsets = filled.buffers()[1].to_pybytes()[filled.offset * 8:(filled.offset + len(filled) + 1) * 8]
        first, last = (int.from_bytes(offsets[:8], "little", signed=True),
                       int.from_bytes(offsets[-8:], "little", signed=True)) if offsets else (0, 0)
        data = filled.buffers()[2]
        text = data.to_pybytes()[first:last] if data is not None else b""
        lengths = pc.binary_length(filled).cast(pa.int64())
        return nulls + _values(lengths, 8) + text
    if pa.types.is_timestamp(kind):
        column = column.cast(pa.int64())
    filled = pc.fill_null(column, 0)
    return nulls + _values(filled, filled.type.bit_width // 8)


def table_checksum(table: pa.Table, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """sha256 over `columns` of the rows in key order: equal for equal rows, whatever their order or file."""
    ordered = table.select(list(columns)).sort_by([(k, "ascending") for k in key]) if table.num_rows else table
    digest = hashlib.sha256()
    for name in columns:
        digest.update(name.encode() + b"\0")
        digest.update(_column_bytes(ordered.column(name).combine_chunks()))
    return "sha256:" + digest.hexdigest()


def checksum(kind: ArchivedTable, table: pa.Table) -> str:
    return table_checksum(table, kind.checksum_columns, kind.key)


def _iso(value: Any) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def time_range(kind: ArchivedTable, table: pa.Table) -> tuple[str | None, str | None]:
    if table.num_rows == 0:
        return None, None
    bounds = pc.min_max(table.column(kind.time_column)).as_py()
    return _iso(bounds["min"]), _iso(bounds["max"])


# ---------------------------------------------------------------- reading


def read_manifest(table: str, client_id: UUID | str | None, month: date | str) -> Manifest | None:
    try:
        body = client("s3").get_object(Bucket=bucket(), Key=manifest_key(table, client_id, month))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return Manifest(**json.loads(body))


def read_object(key: str, kind: ArchivedTable, columns: list[str] | None = None,
                filters: list | None = None) -> pa.Table:
    body = client("s3").get_object(Bucket=bucket(), Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body), columns=columns, filters=filters, schema=kind.schema)


def read_verified(manifest: Manifest) -> pa.Table:
    """The object set's rows, checked against its manifest (ArchiveError if they differ)."""
    kind = TABLES[manifest.table]
    rows = read_object(manifest.object_key, kind)
    _verify(kind, rows, manifest.row_count, manifest.checksum, (manifest.min_at, manifest.max_at),
            f"s3://{bucket()}/{manifest.object_key}")
    return rows


def _verify(kind: ArchivedTable, rows: pa.Table, count: int, expected: str, bounds: tuple, where: str) -> None:
    if rows.num_rows != count:
        raise ArchiveError(f"{where} holds {rows.num_rows} rows, {count} expected")
    if checksum(kind, rows) != expected:
        raise ArchiveError(f"{where} does not match its checksum {expected}")
    if time_range(kind, rows) != tuple(bounds):
        raise ArchiveError(f"{where} spans {time_range(kind, rows)}, {tuple(bounds)} expected")


# ---------------------------------------------------------------- writing


def _one_row_per_key(kind: ArchivedTable, rows: pa.Table) -> pa.Table:
    """Later rows win (the caller appends PostgreSQL's rows after the archived ones)."""
    numbered = rows.append_column("_n", pa.array(range(rows.num_rows), pa.int64()))
    last = numbered.group_by(list(kind.key), use_threads=False).aggregate([("_n", "max")])
    return rows.take(last.column("_n_max"))


def _parquet(rows: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(rows, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    return sink.getvalue()


def write_object_set(kind: ArchivedTable, client_id: UUID | None, month: date, rows: pa.Table, *,
                     covered_until: datetime, run_id: UUID | None) -> tuple[Manifest, bool]:
    """Archive `rows` (of one client and month) with what the month's set holds already; returns the
    verified manifest and whether a new data object was written. Raises ArchiveError, having replaced
    nothing, when the new object does not read back as written."""
    s3, name = client("s3"), bucket()
    existing = read_manifest(kind.name, client_id, month)
    merged = rows.cast(kind.schema)
    if existing is not None:
        merged = _one_row_per_key(kind, pa.concat_tables([read_verified(existing), merged]))
        covered_until = max(covered_until, datetime.fromisoformat(existing.covered_until))
    merged = merged.sort_by(kind.order)
    body = _parquet(merged)
    sha = hashlib.sha256(body).hexdigest()
    object_key = prefix(kind.name, client_id, month) + f"data-{sha[:16]}.parquet"
    expected, bounds = checksum(kind, merged), time_range(kind, merged)
    written = existing is None or existing.object_key != object_key
    if written:
        s3.put_object(Bucket=name, Key=object_key, Body=body, ContentType="application/vnd.apache.parquet",
                      Metadata={"sha256": sha, "rows": str(merged.num_rows)})
    _verify(kind, read_object(object_key, kind), merged.num_rows, expected, bounds, f"s3://{name}/{object_key}")
    manifest = Manifest(
        table=kind.name, client_id=str(client_id) if client_id else None, month=month_label(month),
        object_key=object_key, bytes=len(body), sha256=sha, row_count=merged.num_rows, min_at=bounds[0],
        max_at=bounds[1], checksum=expected, covered_until=_iso(covered_until),
        run_id=str(run_id) if run_id else None, written_at=datetime.now(UTC).isoformat())
    if existing is None or existing.object_key != object_key or existing.covered_until != manifest.covered_until:
        s3.put_object(Bucket=name, Key=manifest.key, Body=manifest.to_json(), ContentType="application/json")
        if read_manifest(kind.name, client_id, month) != manifest:
            raise ArchiveError(f"s3://{name}/{manifest.key} did not read back as written")
    else:
        manifest = existing
    _remove_superseded(prefix(kind.name, client_id, month), keep={object_key, manifest.key})
    return manifest, written


def _remove_superseded(where: str, keep: set[str]) -> None:
    s3, name = client("s3"), bucket()
    listed = s3.list_objects_v2(Bucket=name, Prefix=where).get("Contents", [])
    stale = [{"Key": o["Key"]} for o in listed if o["Key"] not in keep]
    if stale:
        s3.delete_objects(Bucket=name, Delete={"Objects": stale, "Quiet": True})


def list_manifests(table: str, client_id: UUID | None) -> list[Manifest]:
    """Every object set of one client's table, oldest month first (read from S3: works without PostgreSQL)."""
    s3, name = client("s3"), bucket()
    found, token = [], None
    while True:
        page = s3.list_objects_v2(Bucket=name, Prefix=f"{table}/client={client_id or 'none'}/",
                                  **({"ContinuationToken": token} if token else {}))
        found += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/manifest.json")]
        token = page.get("NextContinuationToken")
        if not token:
            break
    manifests = []
    for key in sorted(found):
        month = key.rsplit("/month=", 1)[1].split("/", 1)[0]
        manifest = read_manifest(table, client_id, month)
        if manifest is not None:
            manifests.append(manifest)
    return manifests
