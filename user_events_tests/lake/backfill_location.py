"""The project's code location without its sensors, for tests that run a real daemon: the keep-alive
sensors would otherwise start long-running sink runs, and the hourly sensor loads of its own."""

import dagster as dg


def _without_sensors() -> dg.Definitions:
    # imported here: Dagster refuses a module with two Definitions objects at module scope
    from user_events.definitions import defs as project

    return dg.Definitions(
        assets=project.assets,
        asset_checks=project.asset_checks,
        jobs=project.jobs,
        resources=project.resources,
        executor=project.executor,
    )


defs = _without_sensors()
