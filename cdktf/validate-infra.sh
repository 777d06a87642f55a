#!/usr/bin/env bash
# npm run validate:infra — `terraform init -backend=false` + `terraform validate` on the synthesized
# stack, fully offline. The Terraform registry is never contacted: the hashicorp/aws provider must
# come from a local mirror. Without terraform or a mirror this says why and exits 0 (the infra
# tests still run everywhere; this is the extra check where the tools exist).
#
# Mirror lookup, first hit wins: $TOTES_TF_PROVIDER_MIRROR, then Terraform's implicit local mirror
# directories (~/.terraform.d/plugins, $XDG_DATA_HOME/terraform/plugins, /usr/local/share/terraform/
# plugins, /usr/share/terraform/plugins), then /opt/tf-plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=totes-lake
dir="cdktf.out/stacks/$stack"

skip() { echo "validate:infra: skipped — $*" >&2; exit 0; }

command -v terraform >/dev/null 2>&1 || skip "no terraform binary on PATH (install Terraform >= 1.10 or OpenTofu to validate)."

mirror=""
for candidate in "${TOTES_TF_PROVIDER_MIRROR:-}" "$HOME/.terraform.d/plugins" "${XDG_DATA_HOME:-$HOME/.local/share}/terraform/plugins" \
                 /usr/local/share/terraform/plugins /usr/share/terraform/plugins /opt/tf-plugins; do
  if [ -n "$candidate" ] && [ -d "$candidate/registry.terraform.io/hashicorp/aws" ]; then mirror="$candidate"; break; fi
done
[ -n "$mirror" ] || skip "no local provider mirror holding registry.terraform.io/hashicorp/aws (set TOTES_TF_PROVIDER_MIRROR to one; the registry is not used)."

echo "validate:infra: synthesizing…" >&2
npx tsx cdktf/main.ts >&2

pinned=$(node -e 'const s=require(process.argv[1]);console.log(s.terraform.required_providers.aws.version)' "$PWD/$dir/cdk.tf.json")
mirrored=$(ls "$mirror/registry.terraform.io/hashicorp/aws" | sort -V | tail -n 1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$dir/cdk.tf.json" "$work/"
if [ "$pinned" != "$mirrored" ] && [ ! -d "$mirror/registry.terraform.io/hashicorp/aws/$pinned" ]; then
  echo "validate:infra: the stack pins hashicorp/aws $pinned; the mirror $mirror only has $(ls "$mirror/registry.terraform.io/hashicorp/aws" | tr '\n' ' ')." >&2
  echo "validate:infra: validating against aws $mirrored instead (a copy with the pin relaxed; cdktf.out is untouched)." >&2
  node -e 'const fs=require("fs");const f=process.argv[1];const s=JSON.parse(fs.readFileSync(f));s.terraform.required_providers.aws.version=process.argv[2];fs.writeFileSync(f,JSON.stringify(s,null,2))' "$work/cdk.tf.json" "$mirrored"
fi

cat > "$work/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
(cd "$work" && terraform init -backend=false -input=false -no-color >/dev/null && terraform validate -no-color)
echo "validate:infra: terraform validate passed for $dir (hashicorp/aws from $mirror)." >&2
