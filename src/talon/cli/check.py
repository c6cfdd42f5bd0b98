"""``talon check``: one cycle, as a table or as JSON (schema ``talon.check/v1``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from talon.config import LoadedConfig
from talon.core import Diagnosis, Report, diagnose, from_config
from talon.errors import ConfigError, ConfigProblem
from talon.probes import CycleReport, ProbeContext, run_cycle
from talon.probes.aio import run as run_async

SCHEMA = "talon.check/v1"


def report_json(report: CycleReport, diagnosis: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "schema": SCHEMA,
        "node": {"node_id": report.node_id, "platform": report.platform, "arch": report.arch},
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "duration_ms": round((report.finished_at - report.started_at) * 1000, 3),
        "exit_code": report.exit_code,
        "summary": report.summary(),
        "probes": [r.as_dict() for r in report.results],
    }
    if diagnosis is not None:
        out["diagnosis"] = diagnosis
    return out


def diagnosis_of(loaded: LoadedConfig, report: CycleReport) -> Diagnosis:
    config = from_config(loaded.config, loaded.identity.node_id)
    return diagnose(Report(report.results), report.finished_at, config)


async def _cycle(loaded: LoadedConfig, only: Sequence[str]) -> CycleReport:
    probes = [p for p in loaded.probes if not only or p.key in only]
    ctx = ProbeContext.from_config(loaded.config, loaded.identity)
    try:
        return await run_cycle(probes, ctx, bulkheads=loaded.config.bulkheads)
    finally:
        await ctx.aclose()


def run_check(loaded: LoadedConfig, *, as_json: bool, only: Sequence[str]) -> int:
    unknown = sorted(set(only) - {p.key for p in loaded.probes})
    if unknown:
        raise click.UsageError(
            str(
                ConfigError(
                    [
                        ConfigProblem(
                            loaded.services_path, k, "no such probe", "see `talon config`"
                        )
                        for k in unknown
                    ]
                )
            )
        )
    report = run_async(_cycle(loaded, only))
    diagnosis = diagnosis_of(loaded, report)
    if as_json:
        click.echo(json.dumps(report_json(report, diagnosis.as_dict()), indent=2))
    else:
        from talon.cli.render import print_diagnosis, print_report

        print_report(report, loaded.warnings)
        print_diagnosis(diagnosis)
    return report.exit_code
