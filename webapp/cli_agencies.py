"""`flask agencies ...`: load or update the responsible agencies (INTERFACES.md, RULES.md R2.2).

The app factory registers it with `app.cli.add_command(agencies_cli)`.

The shipped list is `data/agencies.csv` (`flask agencies import data/agencies.csv`). Its
`contact_email` values are placeholders on the taichung.gov.tw domain: operators replace them with
each agency's real address for R9.2.5 confirmation requests, then import the file again (an import
updates rows by code and never duplicates them).
"""
from __future__ import annotations

import click
from flask.cli import AppGroup

from models.agencies import active_agencies, import_agencies

agencies_cli = AppGroup("agencies", help="權責機關：匯入與查詢（R2.2）。")


@agencies_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
def import_command(file: str) -> None:
    """Create or update agencies from a UTF-8 CSV (code,name,short_name,kind,contact_email,parent_code)."""
    result = import_agencies(file)
    click.echo(f"新增 {result.created} 筆、更新 {result.updated} 筆、未變更 {result.unchanged} 筆、錯誤 {len(result.errors)} 筆")
    for error in result.errors:
        click.echo(error, err=True)
    if result.errors:
        raise SystemExit(1)


@agencies_cli.command("list")
def list_command() -> None:
    """Print the active agencies: code, kind, name, contact email."""
    for agency in active_agencies():
        click.echo(f"{agency.code}\t{agency.kind}\t{agency.name}\t{agency.contact_email or ''}")
