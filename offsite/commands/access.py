"""Who may use the API: `offsite token create|list|revoke`, `offsite user create`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console

from offsite.startup import transaction_or_exit

if TYPE_CHECKING:
    from api.auth import Role
    from hub.store.db import Connection

token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard logins.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, operator, department or edge")],
    name: Annotated[str, typer.Option(help="Who or what holds it; shown in the audit trail")] = "",
    department: Annotated[str | None, typer.Option(help="Department id (department tokens)")] = None,
    site: Annotated[str | None, typer.Option(help="Site id (edge tokens)")] = None,
) -> None:
    """Create a token and print it once; only its SHA-256 is stored."""
    from api.auth import AuthError, create_token, scope_problem
    from hub.pipeline import utc_now

    problem = scope_problem(role, department, site)
    if problem:
        err.print(f"[red]{problem}[/]")
        raise typer.Exit(2)
    try:
        with transaction_or_exit() as conn:
            label = name or department or site or role
            token = create_token(conn, label, _role(role), utc_now(), department=department, site=site)
    except AuthError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    out.print(token, markup=False, highlight=False)


@token_app.command("list")
def token_list() -> None:
    """The tokens stored: id, holder, role and scope, and whether each still works."""
    from rich.table import Table

    from api.auth import list_tokens
    from hub.pipeline import utc_now
    from hub.wording import moment, zone_note

    with transaction_or_exit() as conn:
        tokens = list_tokens(conn)
        tz = zone_in_force(conn)
    now = utc_now()
    table = Table("id", "name", "role", "scope", "created", "expires", "state")
    for token in tokens:
        if token.revoked_at is not None:
            state = f"revoked {moment(token.revoked_at, tz, '%Y-%m-%d %H:%M')}"
        elif token.expires_at is not None and token.expires_at <= now:
            state = "expired"
        else:
            state = "[green]valid[/]"
        expires = moment(token.expires_at, tz, "%Y-%m-%d %H:%M") if token.expires_at else "never"
        scope = token.department or token.site or ""
        created = moment(token.created_at, tz, "%Y-%m-%d %H:%M")
        table.add_row(str(token.id), token.name, token.role, scope, created, expires, state)
    out.print(table)
    out.print(zone_note(tz, now), highlight=False)


def zone_in_force(conn: Connection) -> ZoneInfo:
    """The zone of the deployment in force, in which commands show moments; before any deployment
    was loaded, the schema's default (Asia/Shanghai)."""
    import yaml

    from hub.config import Deployment
    from hub.store.configs import active_config

    text = active_config(conn)
    document = yaml.safe_load(text) if text else None
    name = document.get("timezone") if isinstance(document, dict) else None
    try:
        return ZoneInfo(str(name or Deployment.model_fields["timezone"].default))
    except (ZoneInfoNotFoundError, ValueError):  # the stored config is checked: this is a guard only
        return ZoneInfo(str(Deployment.model_fields["timezone"].default))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id, as `offsite token list` shows it")],
) -> None:
    """Revoke a token: every API process refuses it from now on."""
    from api.auth import AuthError, revoke_token
    from hub.pipeline import utc_now

    try:
        with transaction_or_exit() as conn:
            name = revoke_token(conn, utc_now(), "system", token_id=token_id)
    except AuthError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    out.print(f"token {token_id} ({name}) revoked")


def _role(role: str) -> Role:
    from api.auth import ROLES

    if role not in ROLES:
        raise typer.BadParameter(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[str, typer.Option(help="admin, operator or department")],
    department: Annotated[str | None, typer.Option(help="Department id (department users)")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Create a dashboard login; the password is kept as an argon2id hash."""
    from api.auth import AuthError, create_user
    from hub.pipeline import utc_now

    try:
        with transaction_or_exit() as conn:
            create_user(conn, username, password, _role(role), utc_now(), department)
    except AuthError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    out.print(f"user {username} created")
