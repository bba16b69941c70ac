"""Delete a location everywhere the embedded store keeps it (local_hopsworks.erasure), on record: the audit
record names it by a SHA-256 hash only."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import PROGRAM
from ..settings import Settings, location_key


def main(argv: list[str] | None = None) -> int:
    """Run ``forget`` from the command line; exit 1 if a file still mentions the location afterwards."""
    parser = argparse.ArgumentParser(prog=f"{PROGRAM} forget", description=__doc__)
    parser.add_argument("location", help="the location's name or key, e.g. 'Stockholm' or 'stockholm'")
    purge = "also end time travel, so old versions cannot restore it"
    parser.add_argument("--purge-history", action="store_true", help=purge)
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    args = parser.parse_args(argv)
    settings = Settings()
    if settings.store_backend != "local":
        raise ValueError(
            "forget works on the embedded store (STORE_BACKEND=local). On Hopsworks call fg.remove_rows() "
            "for every feature group version and delete its training datasets there (docs/reliability.md)"
        )
    from local_hopsworks import erasure

    key = location_key(args.location)
    if not key:
        raise ValueError(f"{args.location!r} has no letters or digits: not a location")
    root = Path(settings.store_dir)
    record = erasure.forget(root, key, purge_history=args.purge_history, dry_run=args.dry_run)
    print(f"forget {key}: {'would delete' if args.dry_run else 'deleted'} {record['rows']} row(s)")
    for entry in record["deleted"]:
        where = entry.get("name") or entry.get("feature_view") or entry.get("path")
        outcome = entry.get("rows", entry.get("action"))
        print(f"  {entry['what']:<18} {where} v{entry.get('version', '-')}: {outcome}")
    if not args.dry_run:
        print(f"audit record appended to {root / erasure.AUDIT}")
    if record["residual_files"]:
        print("files that still mention it:", *record["residual_files"], sep="\n  ")
        if args.purge_history:
            return 1
        print("(older table versions keep it until you run forget again with --purge-history)")
    return 0
