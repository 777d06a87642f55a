"""moto in server mode, patched for the offline cloud (test code only, pinned to moto 5.2.5).

Two gaps of moto 5.2.5 stop the deployed stack from working against it; each is closed here before
the server starts, and nothing else of moto changes:

1. Bucket policies with an `aws:SecureTransport` condition. moto applies bucket policies to object
   requests but cannot evaluate that key, and a statement whose condition it cannot match *denies*
   (IAMPolicyStatement.is_action_permitted returns DENIED on a failed condition, whatever the
   effect). The stack's deny-non-TLS statement (cdktf/access/policy-document.ts) would then refuse
   every object request. Requests here count as TLS, so that statement does not apply: statements
   conditioned on aws:SecureTransport are dropped before moto evaluates the policy. Every other
   statement (the stack's own deny statements among them) is evaluated as moto always does.
2. Glue column statistics. Trino's Glue metastore calls get/update/delete_column_statistics_for_
   table|partition on every write; moto does not implement them. They answer as empty successes:
   no statistics are kept, which only means Trino plans without them.

Usage: python moto_launcher.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import json
import sys

import moto

EXPECTED = "5.2.5"
if moto.__version__ != EXPECTED:
    sys.exit(f"moto_launcher.py patches moto {EXPECTED}; this is moto {moto.__version__}. Run bash test/support/install-moto.sh")

from moto.glue.responses import GlueResponse  # noqa: E402
from moto.iam.access_control import IAMPolicy, PermissionResult  # noqa: E402
from moto.s3.models import FakeBucket  # noqa: E402
from moto.server import main  # noqa: E402


def _secure_transport_only(statement: dict) -> bool:
    """True for a statement whose conditions test aws:SecureTransport (and nothing else)."""
    condition = statement.get("Condition") or {}
    keys = {key.lower() for test in condition.values() if isinstance(test, dict) for key in test}
    return bool(keys) and keys == {"aws:securetransport"}


def get_permission(self: FakeBucket, action: str, resource: str):
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode())
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    document["Statement"] = [s for s in statements if not _secure_transport_only(s)]
    if not document["Statement"]:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)


FakeBucket.get_permission = get_permission


def _empty(body: dict):
    def action(self: GlueResponse) -> str:
        return json.dumps(body)

    return action


for scope in ("table", "partition"):
    setattr(GlueResponse, f"get_column_statistics_for_{scope}", _empty({"ColumnStatisticsList": [], "Errors": []}))
    setattr(GlueResponse, f"update_column_statistics_for_{scope}", _empty({"Errors": []}))
    setattr(GlueResponse, f"delete_column_statistics_for_{scope}", _empty({}))

if __name__ == "__main__":
    main(sys.argv[1:])
