"""Operator tooling behind `mlc`: connection checks, backfill, redrive, replay, audit, reconciliation.

The command-line tool is a thin layer over these modules; each takes a ``Connector`` (or boto3
clients) and returns plain results the CLI prints, so all of it is testable without a terminal.
"""
