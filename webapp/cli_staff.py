"""`flask staff ...`: console accounts for the operations team and agency staff (INTERFACES.md, R8).

    flask staff create --email chen@taichung.gov.tw --role ops --name 陳專員
    flask staff create --email lin@taichung.gov.tw --role agency --agency CIVIL
    flask staff reset-2fa --email chen@taichung.gov.tw --reason "手機遺失，無其他營運小組成員"
    printf '%s\\n' "$PASSWORD" | flask staff create --email ... --role ops --password-stdin

Without --password-stdin the password is asked for twice, hidden. Passwords have at least 12
characters; an agency account needs an agency already imported with `flask agencies import`.
"""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from models.base import DomainError
from models.staff import ROLES, create_staff
from models.two_factor import reset_by_cli

staff_cli = AppGroup("staff", help="工作臺帳號（營運小組、權責機關）。")


@staff_cli.command("create")
@click.option("--email", required=True, help="登入用電子郵件")
@click.option("--role", required=True, type=click.Choice(ROLES), help="ops = 營運小組（研考會）；agency = 權責機關")
@click.option("--agency", "agency_code", default=None, help="機關代碼（role 為 agency 時必填），例如 CIVIL")
@click.option("--name", "display_name", default=None, help="在工作臺顯示的名稱")
@click.option("--password-stdin", is_flag=True, help="從標準輸入讀取一行作為密碼（不提示）")
def create_command(email: str, role: str, agency_code: str | None, display_name: str | None,
                   password_stdin: bool) -> None:
    """Create a console account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密碼（至少 12 個字元）", hide_input=True, confirmation_prompt="再輸入一次密碼")
    try:
        staff = create_staff(email, role, password, agency_code=agency_code, display_name=display_name)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    where = f"，機關 {staff.agency_code}" if staff.agency_code else ""
    click.echo(f"已建立工作臺帳號 {staff.email}（{staff.role_label}{where}）")


@staff_cli.command("reset-2fa")
@click.option("--email", required=True, help="要重設兩步驟驗證的帳號電子郵件")
@click.option("--reason", required=True, help="事由（會記錄），例如：手機遺失，無其他營運小組成員可重設")
def reset_two_factor_command(email: str, reason: str) -> None:
    """Reset a lost two-factor device when no other ops member can (recorded; the member enrols again)."""
    try:
        staff = reset_by_cli(email, reason)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"已重設 {staff.email} 的兩步驟驗證；該帳號的登入已全部結束，下次登入時須重新設定。")
