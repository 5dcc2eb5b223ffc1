"""What an administrator scripting with Strategy's SDK (mstrio-py) reads first, against the
emulated Strategy server, after copying a project within the environment: a project's status, alias, settings, languages and nodes, whether
it is loaded, the server's nodes and settings, and a project id that does not exist.

Prints one JSON object on stdout with what the SDK returned; the Rust test compares it with
the emulator's store. Exits 1 with the error on the first failure.
"""

import argparse
import json
import logging
import sys
import traceback
import warnings

import sdk

sdk.quiet(logging.ERROR)

from mstrio.connection import Connection  # noqa: E402
from mstrio.server.environment import Environment  # noqa: E402
from mstrio.server.project import Project  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for k in ["url", "user", "password", "project", "copy"]:
        p.add_argument(f"--{k}", required=True)
    a = p.parse_args()
    try:
        conn = Connection(a.url, a.user, a.password, login_mode=1)
        # A copy within the environment (`Project.duplicate`), to read what it carried.
        dup = Project(conn, name=a.project).duplicate(a.copy)
        if not dup.wait_for_stable_status(timeout=60) or dup.status.value != "COMPLETED":
            raise AssertionError(f"duplicating within the environment: {dup.status} {dup.message}")
        out = {}
        for name in [a.project, a.copy]:
            project = Project(conn, name=name)
            data = project.data_language_settings
            out[name] = {
                "id": project.id,
                "status": project.status.value if hasattr(project.status, "value") else project.status,
                "alias": project.alias,
                "maxReportExecutionTime": project.settings.maxReportExecutionTime.value,
                "enableReportServerCaching": project.settings.enableReportServerCaching.value,
                "default_language": data.default_language.name if data.default_language else None,
                "languages": sorted(lang.name for lang in data.languages),
                "is_loaded": project.is_loaded(),
                "nodes": [n["name"] for n in project.nodes],
            }
        env = Environment(conn)
        out["nodes"] = [n["name"] for n in env.list_nodes()]
        out["maxJobsPerServer"] = env.server_settings.maxJobsPerServer.value
        # An unknown id: the SDK warns that it may be unloaded, then the first use raises the
        # server's not-found error.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ghost = Project(conn, id="0" * 32)
                out["unknown"] = f"no error, name {ghost.name!r}"
            except Exception as e:  # noqa: BLE001 - the error's text is the result
                out["unknown"] = str(e)
        conn.close()
        print(json.dumps(out), flush=True)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
