#!/usr/bin/env bash
# Runs every test of IotWs: builds the solution filter (never the nanoFramework project),
# installs the servers the tests use (Mosquitto, Chromium, PostgreSQL, haproxy), clang (Native AOT) and PowerShell 7 (for flash.ps1)
# when they are missing, and prints one closing line "Total: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
# PostgreSQL: the tests run initdb/pg_ctl themselves (as the postgres user when run as root), never the system cluster.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# haproxy: the cluster tests run their own in front of the gateways (a config in a temp folder), never the system service.
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
# clang: the Native AOT publish (PublishedGatewayTests) links its executable with it.
command -v clang >/dev/null 2>&1 || need+=(clang)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing test servers: ${need[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# A mosquitto package starts a system broker on 1883, postgresql a cluster on 5432 and haproxy its service;
# tests start their own on free ports.

# flash.ps1's tests run it with PowerShell 7. Without pwsh on PATH, install 7.6.9 as a .NET tool into
# .tools/ (git-ignored; 7.7 wants .NET 11); the tests find it there.
if ! command -v pwsh >/dev/null 2>&1 && [ ! -x .tools/pwsh ]; then
  echo "Installing PowerShell 7.6.9 into .tools/"
  dotnet tool install --tool-path .tools PowerShell --version 7.6.9 >/dev/null
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log=$(mktemp)
set +e
dotnet test IotWs.slnf -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Repeat each failed test with the first lines of its error at the end, where a CI log's tail shows it.
if grep -q '^  Failed ' "$log"; then
  echo "Failed tests:"
  awk '/^  Failed / { n = 12 } n > 0 { print; n-- }' "$log"
fi

# Sum the per-project result lines into one closing line.
awk '
  /^Total tests: [0-9]+$/ { total += $3 }
  /^ +Passed: [0-9]+$/ { p += $2 }
  /^ +Failed: [0-9]+$/ { f += $2 }
  /^ +Skipped: [0-9]+$/ { s += $2 }
  END { printf "Total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
