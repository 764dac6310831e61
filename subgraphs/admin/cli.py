"""`kindred staff create --email … --role …`: creates a staff account, the way to make the
first admin of a deployment (later ones are made with `createStaff` by an admin).

Registered like the modules of kindred.cli (`register(commands)`); until the `kindred`
command lists it, run it as `python -m subgraphs.admin.cli staff create …`. Reads the
admin subgraph's settings (`KINDRED_POSTGRES_URL` / `KINDRED_ADMIN_DATABASE_URL`), so it
works against a production database; the password comes from a prompt or, with
`--password-stdin`, from the first line of standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any

from sqlalchemy.exc import DBAPIError

from kindred.db import Database
from kindred.errors import KindredError
from kindred.settings import load_settings
from kindred.staff import Role
from subgraphs.admin import service
from subgraphs.admin.service import AuditAction, Outcome, TargetType

# Who the audit log names for an account made from the command line (no staff signed in).
OPERATOR = "kindred staff create"


def register(commands: Any) -> None:
    staff = commands.add_parser("staff", help="manage staff accounts (the first admin)")
    actions = staff.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a staff account")
    create.add_argument("--email", required=True, help="the staff member's sign-in email")
    create.add_argument(
        "--role", required=True, choices=[role.value for role in Role], help="their role"
    )
    create.add_argument("--name", default="Admin", help="their display name (default Admin)")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    create.set_defaults(run=run_create)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 to 128 characters): ")
    if getpass.getpass("Again: ") != first:
        raise KindredError("The two passwords differ.")
    return first


async def run_create(args: argparse.Namespace) -> int:
    """Creates the account and records it in the audit log; 1 with the reason if refused."""
    settings = load_settings("admin")
    try:
        password = _password(args)
    except KindredError as error:
        print(f"error: {error.message} Nothing was created.", file=sys.stderr)
        return 1
    database = Database(settings.database_url, pool_size=1)
    try:
        async with database.session() as session, session.begin():
            staff = await service.create_staff(
                session, email=args.email, password=password, display_name=args.name, role=args.role
            )
            await service.record(
                session,
                staff_id=staff.id,
                staff_email=OPERATOR,
                action=AuditAction.CREATE_STAFF,
                target_type=TargetType.STAFF,
                target_id=str(staff.id),
                request={
                    "email": staff.email,
                    "displayName": staff.display_name,
                    "role": staff.role,
                },
                after={"id": str(staff.id), "email": staff.email, "role": staff.role},
                outcome=Outcome.SUCCEEDED,
            )
    except KindredError as error:
        field = error.details.get("field")
        print(
            f"error: {error.message}{f' ({field})' if field else ''} Nothing was created.",
            file=sys.stderr,
        )
        return 1
    except (OSError, DBAPIError) as error:
        print(
            f"error: cannot reach the admin database ({error}); check KINDRED_POSTGRES_URL "
            "or KINDRED_ADMIN_DATABASE_URL, and that `python -m kindred.migrate admin` ran.",
            file=sys.stderr,
        )
        return 1
    finally:
        await database.dispose()
    print(f"created {staff.role} {staff.email} ({staff.id}); sign in with staffLogin.")
    return 0


def main(argv: list[str] | None = None) -> int:
    root = argparse.ArgumentParser(prog="kindred", description="Staff accounts.")
    register(root.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = root.parse_args(argv)
    return int(asyncio.run(args.run(args)))


if __name__ == "__main__":
    sys.exit(main())
