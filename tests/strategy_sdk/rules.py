"""Cross-environment duplications with Strategy's SDK (mstrio-py) under each conflict rule for
users and security roles, as the SDK sends them (`admin_objects_rules`: the same list as
`conflictRules` in the export and in the import settings).

    --phase base:  duplicate the project to every target with USE_EXISTING (the targets then
                   hold the source's users and roles under the same ids);
    --phase rules: duplicate it again, as `<project> <rule>`, to each target with the rule the
                   target is named for (use_existing, replace, merge), users matched by login.

Between the phases the Rust test changes what the targets' users and roles hold. Prints
`{"phase": ..., "ok": true}` or the error, and exits 1 on failure.
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




def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", nargs=3, metavar=("URL", "USER", "PASSWORD"), required=True)
    p.add_argument("--target", nargs=4, action="append", required=True,
                   metavar=("RULE", "URL", "USER", "PASSWORD"))
    p.add_argument("--project", required=True)
    p.add_argument("--phase", choices=["base", "rules"], required=True)
    a = p.parse_args()
    try:
        src = Connection(*a.source, login_mode=1)
        project = Project(src, name=a.project)
        for rule_name, url, user, password in a.target:
            tgt = Connection(url, user, password, login_mode=1)
            rule = (ProjectDuplicationRule.USE_EXISTING if a.phase == "base"
                    else ProjectDuplicationRule[rule_name.upper()])
            cfg = CrossDuplicationConfig(
                schema_objects_only=False,
                match_users_by_login=True,
                admin_objects_rules=[
                    AdminObjectRule(ObjectTypes.USER, rule),
                    AdminObjectRule(ObjectTypes.SECURITY_ROLE, rule),
                ],
            )
            name = f"{a.project} {a.phase if a.phase == 'base' else rule_name}"
            dup = project.duplicate_to_other_environment(
                name, target_env=tgt, cross_duplication_config=cfg, sync_with_target_env=True)
            sdk.settle(dup, "EXPORTED")
            sdk.settle(ProjectDuplication(tgt, id=dup.id), "COMPLETED")
            tgt.close()
        src.close()
        print(json.dumps({"phase": a.phase, "ok": True}), flush=True)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print(json.dumps({"phase": a.phase, "ok": False, "error": str(e)}), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
