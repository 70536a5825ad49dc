"""Bytecode for every module of a virtualenv, written once at install: where PYTHONDONTWRITEBYTECODE is set (as
on this machine), Python would otherwise compile dagster, pyspark or a service's modules from source in every
process, 2 of the 4 s of each start. A file that does not compile (a template, a test for another Python) is
skipped: this only saves time.

    python -m user_events.devservices.bytecode      # the running venv (`make install`)

The services' own venvs cannot import this package: they run SOURCE with their own Python.
"""

SOURCE = "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_path('purelib'), quiet=2, workers=0)"

if __name__ == "__main__":
    exec(SOURCE)
