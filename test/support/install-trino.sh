#!/usr/bin/env bash
# Installs a trimmed Trino server into .cache/trino/ once, for the Trino fidelity tests and for
# `totes run --engine trino` against a local server. Idempotent: a second run only prints the path.
#
# Why a trimmed install: the trino-server tarball is ~820 MB and unpacks to ~1 GB, almost all of it
# connector plugins we never load. We keep lib/, bin/ and plugin/hive (the connector Athena's SQL
# runs through) and drop the rest, which also makes the server start faster (fewer plugins to load).
# plugin/hive's jars are hard links into lib/ and other plugins in the tarball, so we unpack
# everything first and delete afterwards; the links keep the hive files alive.
#
# Version choice: the newest Trino on Maven Central whose minimum Java is met by the JDK we have.
# Override with TRINO_VERSION=<n>; point at a JDK with TRINO_JAVA_HOME (default: Temurin 25).
# Prints the install directory (…/trino-server-<version>) on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${TRINO_CACHE_DIR:-$ROOT/.cache/trino}"
JAVA_HOME_FOR_TRINO="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
MAVEN="${MAVEN_CENTRAL_URL:-https://repo1.maven.org/maven2}"

# Trino version → minimum Java feature release (from the Trino release notes), newest first.
# 476 is the newest release published to Maven Central at the time of writing.
KNOWN_VERSIONS=("476:24" "470:23" "468:23" "447:22" "436:21")

java_bin="$JAVA_HOME_FOR_TRINO/bin/java"
if [[ ! -x "$java_bin" ]]; then
  echo "install-trino: no java at $java_bin; install Temurin 25 or set TRINO_JAVA_HOME" >&2
  exit 2
fi
java_major="$("$java_bin" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)"

version="${TRINO_VERSION:-}"
if [[ -z "$version" ]]; then
  for entry in "${KNOWN_VERSIONS[@]}"; do
    if (( java_major >= ${entry#*:} )); then version="${entry%%:*}"; break; fi
  done
fi
if [[ -z "$version" ]]; then
  echo "install-trino: Java $java_major at $java_bin is too old for any known Trino (need >= 21)" >&2
  exit 2
fi

install_dir="$CACHE/trino-server-$version"
if [[ -f "$install_dir/.installed" ]]; then
  echo "$install_dir"
  exit 0
fi

mkdir -p "$CACHE"
# One installer at a time (parallel jest workers may all ask for it).
exec 9>"$CACHE/.install.lock"
flock 9
if [[ -f "$install_dir/.installed" ]]; then
  echo "$install_dir"
  exit 0
fi

tarball="$CACHE/trino-server-$version.tar.gz"
url="$MAVEN/io/trino/trino-server/$version/trino-server-$version.tar.gz"
expected_sha1="$(curl -fsSL "$url.sha1" | cut -c1-40)"
if [[ ! -f "$tarball" ]]; then
  part="$tarball.part"
  if [[ ! -f "$part" ]] || [[ "$(sha1sum "$part" | cut -c1-40)" != "$expected_sha1" ]]; then
    echo "install-trino: downloading $url (~820 MB)" >&2
    curl -fSL --retry 3 -C - -o "$part" "$url" || curl -fSL --retry 3 -o "$part" "$url"
  fi
  actual_sha1="$(sha1sum "$part" | cut -c1-40)"
  if [[ "$actual_sha1" != "$expected_sha1" ]]; then
    rm -f "$part"
    echo "install-trino: checksum mismatch for $url (got $actual_sha1, want $expected_sha1); run again" >&2
    exit 1
  fi
  mv "$part" "$tarball"
fi

staging="$CACHE/.staging-$version"
rm -rf "$staging" "$install_dir"
mkdir -p "$staging"
echo "install-trino: unpacking into $install_dir" >&2
tar -xzf "$tarball" -C "$staging"
unpacked="$staging/trino-server-$version"
find "$unpacked/plugin" -mindepth 1 -maxdepth 1 -type d ! -name hive -exec rm -rf {} +
rm -rf "$unpacked/secrets-plugin"
# Launcher binaries for other platforms are dead weight; we start the JVM directly anyway.
find "$unpacked/bin" -mindepth 1 -maxdepth 1 -type d ! -name "linux-$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')" -exec rm -rf {} +
mv "$unpacked" "$install_dir"
rm -rf "$staging"
if [[ "${TRINO_KEEP_TARBALL:-0}" != "1" ]]; then rm -f "$tarball"; fi
echo "$version java>=$java_major $(date -u +%FT%TZ)" > "$install_dir/.installed"
echo "install-trino: installed Trino $version ($(du -sh "$install_dir" | cut -f1)) for Java $java_major" >&2
echo "$install_dir"
