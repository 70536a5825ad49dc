"""`python -m user_events.devservices up|down|status` — see user_events/devservices/cli.py."""

from .cli import main

raise SystemExit(main())
