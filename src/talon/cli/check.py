"""``talon check``: one cycle, as a table or as JSON (schema ``talon.check/v1``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from talon.config import LoadedConfig
from talon.core import Diagnosis, Report, diagnose
from talon.core_config import core_config
from talon.errors import ConfigError, ConfigProblem
from talon.probes import CycleReport, ProbeContext, run_cycle
from talon.probes.aio import run as run_async
from talon.report import report_json


def diagnosis_of(loaded: LoadedConfig, report: CycleReport, ctx: ProbeContext) -> Diagnosis:
    """What the daemon would classify and do, with what this node's adapters can do."""
    config = core_config(loaded.config, loaded.identity.node_id, ctx.runtime, ctx.process_manager)
    return diagnose(Report(report.results, stamp="check"), report.finished_at, config)


async def _cycle(loaded: LoadedConfig, only: Sequence[str]) -> tuple[CycleReport, Diagnosis]:
    probes = [p for p in loaded.probes if not only or p.key in only]
    ctx = ProbeContext.from_config(loaded.config, loaded.identity)
    try:
        report = await run_cycle(probes, ctx, bulkheads=loaded.config.bulkheads)
        return report, diagnosis_of(loaded, report, ctx)
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
    report, diagnosis = run_async(_cycle(loaded, only), loaded.config.event_loop)
    if as_json:
        click.echo(json.dumps(report_json(report, diagnosis.as_dict()), indent=2))
    else:
        from talon.cli.render import print_diagnosis, print_report

        print_report(report, loaded.warnings)
        print_diagnosis(diagnosis)
    return report.exit_code
