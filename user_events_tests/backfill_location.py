"""The project's code location without its sensors, for tests that run a real daemon: the keep-alive
sensors would otherwise start long-running sink runs, and the hourly sensor loads of its own."""

import dagster as dg

from user_events.definitions import defs as _project

defs = dg.Definitions(
    assets=_project.assets,
    asset_checks=_project.asset_checks,
    jobs=_project.jobs,
    resources=_project.resources,
    executor=_project.executor,
)
