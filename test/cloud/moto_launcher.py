"""moto in server mode, patched for the offline cloud (test code only, pinned to moto 5.2.5).

Five gaps of moto 5.2.5 stop the deployed stack from working against it; each is closed here before
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
3. Object Lock configuration of a bucket that holds objects. moto refuses any PutObjectLockConfiguration
   on a non-empty bucket; S3 refuses only *enabling* Object Lock there, and lets a bucket that has it
   change or drop its default retention at any time. Destroying the stack does exactly that (the
   provider drops the default retention of the ingestion and audit buckets before emptying them),
   so a bucket already under Object Lock may change its configuration here too.
4. DeleteTrail by ARN. moto deletes a trail only when given its name and silently keeps it when given
   its ARN, which is what the provider sends on destroy. The trail is looked up by name or ARN, as
   moto's own GetTrail does.
5. Athena named queries cannot be deleted. moto creates, gets and lists them but has no
   DeleteNamedQuery, which the provider calls when the stack's saved queries (cdktf/query/
   saved-queries.ts) are replaced or destroyed; and GetNamedQuery of an unknown id fails with a server
   error instead of Athena's InvalidRequestException. Both answer as Athena does.

Usage: python moto_launcher.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import json
import sys

import moto

EXPECTED = "5.2.5"
if moto.__version__ != EXPECTED:
    sys.exit(f"moto_launcher.py patches moto {EXPECTED}; this is moto {moto.__version__}. Run bash test/support/install-moto.sh")

from moto.athena.responses import AthenaResponse  # noqa: E402
from moto.cloudtrail.models import CloudTrailBackend  # noqa: E402
from moto.glue.responses import GlueResponse  # noqa: E402
from moto.iam.access_control import IAMPolicy, PermissionResult  # noqa: E402
from moto.s3.exceptions import BucketNeedsToBeNew, InvalidBucketState  # noqa: E402
from moto.s3.models import FakeBucket, S3Backend  # noqa: E402
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


def put_object_lock_configuration(self: S3Backend, bucket_name: str, lock_enabled: bool, mode=None, days=None, years=None) -> None:
    bucket = self.get_bucket(bucket_name)
    if not bucket.is_versioned:
        raise InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    if bucket.keys.item_size() > 0 and not bucket.object_lock_enabled:
        raise BucketNeedsToBeNew
    if lock_enabled:
        bucket.object_lock_enabled = True
        bucket.versioning_status = "Enabled"
    bucket.default_lock_mode = mode
    bucket.default_lock_days = days
    bucket.default_lock_years = years


S3Backend.put_object_lock_configuration = put_object_lock_configuration


def delete_trail(self: CloudTrailBackend, name: str) -> None:
    trail = self.get_trail(name)
    del self.trails[trail.trail_name]


CloudTrailBackend.delete_trail = delete_trail


def _unknown_named_query(self: AthenaResponse, query_id: str):
    return self.error(f"NamedQuery {query_id} was not found", 400)


_get_named_query = AthenaResponse.get_named_query


def get_named_query(self: AthenaResponse):
    query_id = self._get_param("NamedQueryId")
    if query_id not in self.athena_backend.named_queries:
        return _unknown_named_query(self, query_id)
    return _get_named_query(self)


def delete_named_query(self: AthenaResponse):
    query_id = self._get_param("NamedQueryId")
    if self.athena_backend.named_queries.pop(query_id, None) is None:
        return _unknown_named_query(self, query_id)
    return json.dumps({})


AthenaResponse.get_named_query = get_named_query
AthenaResponse.delete_named_query = delete_named_query


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
