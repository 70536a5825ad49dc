"""user_events: a Dagster asset-based analytics platform for e-commerce user events."""

import warnings

__version__ = "0.1.0"

# Dagster announces these beta parameters each time the code loads (every code-server reload, every run
# process): `backfill_policy` is the single-run hourly backfill this project chose on purpose, and
# `owners` is passed by Dagster's own @sensor decorator. Only these two notices are silenced.
warnings.filterwarnings("ignore", message=r"Parameter `(backfill_policy|owners)` ", category=Warning)
