"""The verification report of one import: per table source and target counts, checksums, foreign
keys checked, normalisations counted, and every refused row with its reason; printed and as JSON."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SHOWN_REFUSALS = 50  # printed; the JSON report lists every one


@dataclass
class TableReport:
    source_rows: int = 0  # rows in the legacy file
    imported: int = 0  # carried over by this run
    already_imported: int = 0  # carried over by an earlier run of the same file
    merged: int = 0  # matched a platform row that was already there (same natural key)
    refused: int = 0
    target_rows: int = 0  # platform rows that stand for the file's rows, counted in PostgreSQL
    source_checksum: str = ""  # over the normalised values of the rows carried over
    target_checksum: str = ""  # the same values read back from PostgreSQL
    normalised: dict[str, int] = field(default_factory=dict)  # kind -> values changed
    foreign_keys: dict[str, dict[str, int]] = field(default_factory=dict)  # fk -> {checked, broken}

    @property
    def verified(self) -> bool:
        keys_ok = all(fk["broken"] == 0 for fk in self.foreign_keys.values())
        accounted = self.imported + self.already_imported + self.merged + self.refused == self.source_rows
        return keys_ok and accounted and self.source_checksum == self.target_checksum


@dataclass
class ImportReport:
    source: str
    source_hash: str
    dry_run: bool
    tables: dict[str, TableReport] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)  # {table, legacy_id, reason}
    kept_as_text: list[dict[str, str]] = field(default_factory=list)  # values that were not JSON: where they went
    findings: list[dict[str, Any]] = field(default_factory=list)  # kept as they are but worth a look (duplicate emails)
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)  # legacy columns the import does not read
    clients: dict[str, str] = field(default_factory=dict)  # legacy client id -> platform client id
    keys: dict[str, int] = field(default_factory=dict)  # legacy API keys carried over / indexed / refused

    @property
    def verified(self) -> bool:
        return all(t.verified for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        for name, table in self.tables.items():
            document["tables"][name]["verified"] = table.verified
        document["verified"] = self.verified
        return document

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def summary(self) -> str:
        lines = [f"legacy import of {self.source} (sha256 {self.source_hash[:12]}){' [dry run]' if self.dry_run else ''}",
                 f"{'table':<16}{'source':>9}{'new':>9}{'before':>9}{'merged':>8}{'refused':>8}{'target':>9}"
                 f"  checksum  fk"]
        for name, t in self.tables.items():
            broken = sum(fk["broken"] for fk in t.foreign_keys.values())
            checked = "ok" if t.source_checksum == t.target_checksum else "MISMATCH"
            lines.append(f"{name:<16}{t.source_rows:>9}{t.imported:>9}{t.already_imported:>9}{t.merged:>8}"
                         f"{t.refused:>8}{t.target_rows:>9}  {checked:<9} {'ok' if not broken else f'{broken} broken'}")
            if t.normalised:
                lines.append("    normalised: " + ", ".join(f"{k} {v}" for k, v in sorted(t.normalised.items())))
        for refusal in self.refused[:SHOWN_REFUSALS]:
            lines.append(f"refused {refusal['table']} {refusal['legacy_id']}: {refusal['reason']}")
        if len(self.refused) > SHOWN_REFUSALS:
            lines.append(f"... and {len(self.refused) - SHOWN_REFUSALS} more refused rows: see the JSON report")
        for finding in self.findings:
            lines.append(f"note: {finding['message']}")
        lines.append(f"keys: {', '.join(f'{k} {v}' for k, v in self.keys.items())}")
        lines.append("verified" if self.verified else "NOT verified: see the table lines above")
        return "\n".join(lines)
