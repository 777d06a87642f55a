#!/usr/bin/env bash
# npm run check:infra — checkov (static analysis, from PyPI) over the synthesized stack, fully offline.
#
#  1. With the project's configuration (cdktf/checkov.yaml): any failed check fails this script, so a
#     change that makes a new check fail fails the build (.ci/run and the workflows run it).
#  2. Without the configuration's skips: every failure must be one of the skips the configuration
#     documents, and every documented skip must still fail somewhere (a skip that has become
#     needless must be removed, so the list never hides a fixed check).
#
# checkov comes from $CHECKOV_BIN when set, else from the venv test/support/install-checkov.sh
# installs ($CHECKOV_VENV, default .cache/venv-checkov; it installs there when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
config=cdktf/checkov.yaml
stack=totes-lake

if [ -n "${CHECKOV_BIN:-}" ]; then
  checkov="$CHECKOV_BIN"
else
  bash test/support/install-checkov.sh
  checkov="${CHECKOV_VENV:-.cache/venv-checkov}/bin/checkov"
fi
[ -x "$checkov" ] || { echo "check:infra: no checkov at $checkov" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "check:infra: synthesizing…" >&2
# Into a directory of its own, so a concurrent `npm run synth` cannot change what is checked.
CDKTF_OUTDIR="$work/cdktf.out" npx tsx cdktf/main.ts >&2
json="$work/cdktf.out/stacks/$stack/cdk.tf.json"
version=$("$checkov" --version)

echo "check:infra: checkov $version with $config…" >&2
"$checkov" --config-file "$config" -f "$json"

echo "check:infra: checkov $version without the skips…" >&2
set +e
"$checkov" -f "$json" --framework terraform_json --quiet --compact --skip-download -o json > "$work/unskipped.json" 2> "$work/unskipped.err"
status=$?
set -e
# checkov exits 1 when a check fails (expected here); anything else is an error of checkov itself.
if [ "$status" -gt 1 ]; then cat "$work/unskipped.err" >&2; echo "check:infra: checkov failed (exit $status)" >&2; exit 1; fi

node - "$work/unskipped.json" "$config" <<'NODE'
const fs = require('fs');
const [report, config] = process.argv.slice(2);
let results = JSON.parse(fs.readFileSync(report, 'utf8'));
if (Array.isArray(results)) results = results.find((r) => r.check_type === 'terraform_json') ?? results[0];
const failed = results.results?.failed_checks ?? [];
// The skips, each "- CKV_… # reason" under skip-check (test/infra/supply-chain.test.ts checks the format).
const skips = new Map();
let inSkips = false;
for (const line of fs.readFileSync(config, 'utf8').split('\n')) {
  if (/^skip-check:/.test(line)) { inSkips = true; continue; }
  if (inSkips && /^\S/.test(line)) inSkips = false;
  const m = inSkips && /^\s*-\s*(CKV\w+)\s*#\s*(.*)$/.exec(line);
  if (m) skips.set(m[1], m[2].trim());
}
const undocumented = failed.filter((f) => !skips.has(f.check_id));
const failing = new Set(failed.map((f) => f.check_id));
const stale = [...skips.keys()].filter((id) => !failing.has(id));
for (const f of undocumented) console.error(`check:infra: ${f.check_id} fails on ${f.resource} (${f.check_name}) and is not a documented skip: fix it in cdktf/`);
for (const id of stale) console.error(`check:infra: ${id} is skipped in ${config} but no longer fails: remove the skip`);
if (undocumented.length || stale.length) process.exit(1);
const summary = results.summary;
console.error(`check:infra: without the skips checkov passed ${summary.passed} checks and failed ${summary.failed}, all of them among the ${skips.size} documented skips (${[...failing].sort().join(', ')})`);
NODE
echo "check:infra: passed" >&2
