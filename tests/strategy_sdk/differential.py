"""Drive Strategy's own Python SDK (mstrio-py) through the two operations ferry's Strategy pack
performs, with the pack's defaults, so that a Rust test can compare the requests of both.

- sync:    a cross-environment duplication through the storage service, all objects, users
           and security roles kept as the target has them (USE_EXISTING); it settles
           EXPORTED on the source and COMPLETED on the target.
- package: the same duplication without sync, its backup package downloaded and restored on
           the target from the file (`restore_project_from_backup`).

Each step prints one JSON line on stdout, `{"step": NAME, "ok": true, ...}`; a failure prints
`{"step": NAME, "ok": false, "error": ...}` and exits 1. The emulator's request log (bodies
kept) is what the test compares; this script only makes the SDK send its requests.
"""

import argparse
import json
import logging
import sys
import traceback

import sdk

sdk.quiet(logging.WARNING)

from mstrio.connection import Connection  # noqa: E402
from mstrio.server.project import (  # noqa: E402
    AdminObjectRule,
    CrossDuplicationConfig,
    Project,
    ProjectDuplication,
    ProjectDuplicationRule,
)
from mstrio.types import ObjectTypes  # noqa: E402


def pack_defaults():
    """The pack's defaults in the SDK's terms: every object, users and roles as the target
    has them."""
    keep = ProjectDuplicationRule.USE_EXISTING
    return CrossDuplicationConfig(
        schema_objects_only=False,
        admin_objects_rules=[
            AdminObjectRule(ObjectTypes.USER, keep),
            AdminObjectRule(ObjectTypes.SECURITY_ROLE, keep),
        ],
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for k in ["source", "source-user", "source-password", "target", "target-user",
              "target-password", "project", "workdir"]:
        p.add_argument(f"--{k}", required=True)
    a = p.parse_args()
    step = "login"
    try:
        src = Connection(a.source, a.source_user, a.source_password, login_mode=1)
        tgt = Connection(a.target, a.target_user, a.target_password, login_mode=1)
        project = Project(src, name=a.project)
        print(json.dumps({"step": step, "ok": True}), flush=True)

        step = "sync"
        dup = project.duplicate_to_other_environment(
            f"{a.project} sync", target_env=tgt,
            cross_duplication_config=pack_defaults(), sync_with_target_env=True,
        )
        sdk.settle(dup, "EXPORTED")
        sdk.settle(ProjectDuplication(tgt, id=dup.id), "COMPLETED")
        print(json.dumps({"step": step, "ok": True, "id": dup.id}), flush=True)

        step = "package"
        dup = project.duplicate_to_other_environment(
            f"{a.project} package", target_env=tgt,
            cross_duplication_config=pack_defaults(), sync_with_target_env=False,
        )
        sdk.settle(dup, "EXPORTED")
        path = dup.get_backup_package(save_path=a.workdir)["filepath"]
        restored = Project.restore_project_from_backup(
            tgt, path, target_name=f"{a.project} package",
            cross_duplication_config=pack_defaults(),
        )
        sdk.settle(restored, "COMPLETED")
        print(json.dumps({"step": step, "ok": True, "id": dup.id}), flush=True)
        src.close()
        tgt.close()
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        traceback.print_exc()
        print(json.dumps({"step": step, "ok": False, "error": str(e)}), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
