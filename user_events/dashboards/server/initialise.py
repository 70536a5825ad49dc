"""First-time initialisation of Superset's metadata database, in one process (each `superset` CLI call spends
~10 s creating the app): the schema migrations (`superset db upgrade`), the roles and permissions (`superset
init`) and the admin user. Run with Superset's own Python; the admin's name and password come from the
environment (USER_EVENTS_SUPERSET_USER / USER_EVENTS_SUPERSET_PASSWORD), never from the command line.
Safe to re-run: an existing admin gets the current password.
"""

import os
import sys


def main() -> int:
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        upgrade()
        from superset import security_manager
        from superset.extensions import appbuilder, db

        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        username = os.environ["USER_EVENTS_SUPERSET_USER"]
        password = os.environ["USER_EVENTS_SUPERSET_PASSWORD"]
        user = security_manager.find_user(username=username)
        if user is None:
            created = security_manager.add_user(
                username,
                "Superset",
                "Admin",
                f"{username}@localhost",
                security_manager.find_role("Admin"),
                password=password,
            )
            if not created:
                print("could not create the admin user", file=sys.stderr)
                return 1
        else:
            security_manager.reset_password(user.id, password)
        db.session.commit()
    print("superset initialised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
