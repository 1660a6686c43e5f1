"""`mlc`: validate and publish profiles, check connections, backfill, redrive, replay, audit, reconcile.

Exit codes scripts can trust: 0 success, 1 the operation found a problem (a failed check,
differences in a reconciliation), 2 bad usage or an invalid profile.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlconnector.errors import ProfileError
from mlconnector.profile import load_profile

EXIT_PROBLEM = 1
EXIT_USAGE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="mlc")
def cli() -> None:
    """Operate ml-connector: profiles, connection checks, backfill, redrive, replay, audit, reconcile."""


@cli.group()
def profile() -> None:
    """Connection profiles (config/<customer>.yaml)."""


@profile.command("validate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path), nargs=-1, required=True)
def profile_validate(path: tuple[Path, ...]) -> None:
    """Validate one or more profiles; print every bad field with the reason."""
    failed = False
    for item in path:
        try:
            loaded = load_profile(str(item))
        except ProfileError as exc:
            click.echo(str(exc), err=True)
            failed = True
            continue
        names = ", ".join(f"{c.name} ({c.store_type} → {c.erp_type})" for c in loaded.connections)
        click.echo(f"{item}: valid — customer {loaded.customer}: {names}")
    sys.exit(EXIT_USAGE if failed else 0)


@profile.command("push")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--parameter", help="SSM parameter name (default /ml-connector/<customer>/profile).")
@click.option("--region", envvar="AWS_REGION", help="AWS region of the stack.")
@click.option("--aws-profile", envvar="AWS_PROFILE", help="AWS named profile.")
def profile_push(path: Path, parameter: str | None, region: str | None, aws_profile: str | None) -> None:
    """Validate a profile, then store it in SSM Parameter Store where the deployed functions read it."""
    import boto3

    try:
        loaded = load_profile(str(path))
    except ProfileError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    name = parameter or f"/ml-connector/{loaded.customer}/profile"
    session = boto3.Session(region_name=region, profile_name=aws_profile)
    session.client("ssm").put_parameter(
        Name=name, Value=path.read_text(encoding="utf-8"), Type="String", Tier="Advanced", Overwrite=True
    )
    click.echo(f"{path} stored as {name}")
