"""Drive Strategy's own Python SDK (mstrio-py) through every project-duplication flow.

The Rust fidelity test starts the emulated Strategy Library server (two environments, each
under its own base-URL path on one port) and runs this script against it. Each step prints
one JSON line on stdout, `{"step": NAME, "ok": true, ...facts}`; on the first failure it
prints `{"step": NAME, "ok": false, "error": ...}` and exits 1. What it checks:

- login:  `Connection(..., login_mode=1)` to both environments.
- sync:   cross-environment duplication through the storage service: the source record
          settles at EXPORTED, the same id on the target at COMPLETED.
- manual: duplication without sync settles at EXPORTED; its backup package downloads; it
          restores on the target from the file (option A) and from the record (option B).
- cancel: a fresh duplication cancels (`cancel()` is True only on HTTP 204) and ends CANCELLED.
- list:   the source lists every duplication made above.
- delete: the cancelled duplication is deleted and no longer listed.
- renew:  after idling past the server's session timeout, a call still succeeds.
- logout: both connections close.

mstrio-py is proprietary: it is installed test-only into `target/mstrio-venv` (see
`tests/common/reference.rs`, `mstrio_python`) and is never vendored into this repository.
"""

import argparse
import json
import logging
import os
import sys
import time
import traceback

from mstrio import config

config.verbose = False
config.progress_bar = False
config.delay_between_polling = 0.2
config._logger_stream_handler.setStream(sys.stderr)  # stdout carries only the JSON lines
config.logger.setLevel(logging.WARNING)  # the SDK logs progress at INFO even when not verbose

from mstrio.connection import Connection  # noqa: E402
from mstrio.server.project import (  # noqa: E402
    CrossDuplicationConfig,
    Project,
    ProjectDuplication,
    list_projects_duplications,
)

WAIT = 60  # seconds any duplication may take to settle


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def status(dup):
    return dup.status.value if dup.status else None


def settle(dup, expected):
    """Poll until the record is stable; it must then be in `expected`."""
    check(dup.wait_for_stable_status(timeout=WAIT), f"{dup.id} still {status(dup)}")
    check(status(dup) == expected, f"{dup.id} is {status(dup)}, expected {expected}")
    return status(dup)


def record(dup):
    return {"id": dup.id, "status": status(dup), "target_name": dup.target.project.get("name")}


def duplicate(s, suffix, sync):
    return s.project.duplicate_to_other_environment(
        f"{s.args.project} {suffix}",
        target_env=s.tgt,
        cross_duplication_config=CrossDuplicationConfig(),
        sync_with_target_env=sync,
    )


def login(s):
    a = s.args
    s.src = Connection(a.source, a.source_user, a.source_password, login_mode=1)
    s.tgt = Connection(a.target, a.target_user, a.target_password, login_mode=1)
    return {
        "source": s.src.base_url,
        "target": s.tgt.base_url,
        "iserver_version": s.src.iserver_version,
        "session_timeout": s.src.timeout,
    }


def sync(s):
    s.project = Project(s.src, name=s.args.project)
    dup = duplicate(s, "copy", sync=True)
    s.ids = [dup.id]
    source_status = settle(dup, "EXPORTED")
    tdup = ProjectDuplication(s.tgt, id=dup.id)
    return {
        "project_id": s.project.id,
        "id": dup.id,
        "source_status": source_status,
        "target_status": settle(tdup, "COMPLETED"),
        "target_name": tdup.target.project.get("name"),
    }


def manual(s):
    dup = duplicate(s, "manual", sync=False)
    s.ids.append(dup.id)
    source_status = settle(dup, "EXPORTED")
    package = dup.get_backup_package(save_path=s.args.workdir)
    path = package["filepath"]
    size = os.path.getsize(path)
    check(size == len(package["file_binary"]), "saved package differs from the download")
    # Option A: restore from the downloaded file, under a name of our choosing.
    a = Project.restore_project_from_backup(
        s.tgt, path, target_name=f"{s.args.project} restored A"
    )
    settle(a, "COMPLETED")
    # Option B: the SDK downloads the package again and restores it under the record's
    # own target (environment and project name, i.e. "<project> manual").
    sent_name = dup.target.project.get("name")
    check(sent_name == f"{s.args.project} manual", f"record's target name is {sent_name!r}")
    b = dup.restore_package_on_target_environment(s.tgt)
    settle(b, "COMPLETED")
    return {
        "id": dup.id,
        "source_status": source_status,
        "package": os.path.basename(path),
        "package_size": size,
        "restore_a": record(a),
        "restore_b": {**record(b), "sent_name": sent_name},
    }


def cancel(s):
    dup = duplicate(s, "cancelled", sync=False)
    s.cancelled = dup
    s.ids.append(dup.id)
    started = status(dup)
    check(dup.cancel() is True, "cancel() returned False (server did not answer 204)")
    dup.fetch()
    after_cancel = status(dup)
    return {
        "id": dup.id,
        "started": started,
        "after_cancel": after_cancel,
        "final": settle(dup, "CANCELLED"),
    }


def listing(s):
    dups = list_projects_duplications(s.src)
    missing = [i for i in s.ids if i not in [d.id for d in dups]]
    check(not missing, f"not listed: {missing}")
    listed = [{"id": d.id, "status": status(d)} for d in dups]
    return {"count": len(dups), "duplications": listed}


def delete(s):
    check(s.cancelled.delete(force=True) is True, "delete() returned False")
    listed = [d.id for d in list_projects_duplications(s.src)]
    check(s.cancelled.id not in listed, f"{s.cancelled.id} still listed")
    return {"id": s.cancelled.id, "count": len(listed)}


def renew(s):
    token = s.src.token
    time.sleep(s.args.idle)
    dups = list_projects_duplications(s.src)
    return {"idle": s.args.idle, "count": len(dups), "new_token": s.src.token != token}


def logout(s):
    s.src.close()
    s.tgt.close()
    return {}


STEPS = [
    ("login", login),
    ("sync", sync),
    ("manual", manual),
    ("cancel", cancel),
    ("list", listing),
    ("delete", delete),
    ("renew", renew),
    ("logout", logout),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for side in ("source", "target"):
        p.add_argument(f"--{side}", required=True, help="base URL (the SDK appends /api/...)")
        p.add_argument(f"--{side}-user", required=True)
        p.add_argument(f"--{side}-password", required=True)
    p.add_argument("--workdir", required=True, help="where the backup package is saved")
    p.add_argument("--project", required=True, help="source project name")
    p.add_argument("--idle", type=float, required=True, help="seconds to idle before `renew`")
    s = argparse.Namespace(args=p.parse_args())
    for name, run in STEPS:
        try:
            facts = run(s)
        except Exception as e:  # noqa: BLE001 (every failure is reported the same way)
            traceback.print_exc()
            error = f"{type(e).__name__}: {e}"
            print(json.dumps({"step": name, "ok": False, "error": error}), flush=True)
            sys.exit(1)
        print(json.dumps({"step": name, "ok": True, **facts}), flush=True)


if __name__ == "__main__":
    main()
