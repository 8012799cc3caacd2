#!/usr/bin/env bash
# The two commands of the README, on a fresh Debian 12 as root:
#   ./run.sh up      install what is missing, then run Prosody + the component + a demo business
#                    (Debian's ejabberd too when config.toml says xmpp.server = "ejabberd")
#   ./run.sh test    install what is missing (ejabberd included), then ruff, mypy and the whole test suite
# Other arguments are passed to the dotimely-chat command: ./run.sh component, ./run.sh db upgrade, ...
set -euo pipefail
cd "$(dirname "$0")"

DEBIAN_PACKAGES=(prosody prosody-modules lua-dbi-sqlite3 openssl ca-certificates python3 python3-venv)
VENV=.venv

say() { echo "run.sh: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1; fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_debian_packages() {
  local missing=()
  for package in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  # Python 3.11 from elsewhere (pyenv...) is fine as long as it has venv.
  if [ "${#missing[@]}" -gt 0 ]; then
    local needed=()
    for package in "${missing[@]}"; do
      case "$package" in
        python3|python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null || needed+=("$package") ;;
        *) needed+=("$package") ;;
      esac
    done
    if [ "${#needed[@]}" -gt 0 ]; then
      say "installing Debian packages: ${needed[*]}"
      apt_install "${needed[@]}"
    fi
  fi
  # Debian starts the system Prosody on install; ours runs from its own config and ports.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prosody 2>/dev/null; then
    say "stopping the system-wide Prosody service (dotimely-chat runs its own)"
    as_root systemctl stop prosody || true
  fi
}

# Debian's ejabberd: always for the tests, for the other commands when the config names it.
install_ejabberd() {
  if ! dpkg-query -W -f='${Status}' ejabberd 2>/dev/null | grep -q "install ok installed"; then
    say "installing Debian's ejabberd"
    apt_install ejabberd
  fi
  # Like Prosody: Debian may start a system-wide ejabberd on install; ours runs from its own config and ports.
  if command -v systemctl >/dev/null && systemctl is-active --quiet ejabberd 2>/dev/null; then
    say "stopping the system-wide ejabberd service (dotimely-chat runs its own)"
    as_root systemctl stop ejabberd || true
  fi
}

# xmpp.server of the config the command will read (--config PATH, $DOTIMELY_CONFIG or ./config.toml).
config_server_kind() {
  local config="${DOTIMELY_CONFIG:-config.toml}" previous=""
  for argument in "$@"; do
    if [ "$previous" = "--config" ]; then config="$argument"; fi
    case "$argument" in --config=*) config="${argument#--config=}" ;; esac
    previous="$argument"
  done
  [ -f "$config" ] || { echo prosody; return; }
  "$VENV/bin/python" - "$config" <<'PY' 2>/dev/null || echo prosody
import sys, tomllib
with open(sys.argv[1], "rb") as handle:
    print(tomllib.load(handle).get("xmpp", {}).get("server", "prosody"))
PY
}

install_python_packages() {
  local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    say "installing Python packages into $VENV"
    if ! "$VENV/bin/pip" install -q -e '.[test]' >"$VENV/pip.log" 2>&1; then
      cat "$VENV/pip.log" >&2; say "pip install failed"; exit 1
    fi
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

# The storage tests also run on PostgreSQL (127.0.0.1:5432, trust auth, database `test`).
ensure_test_postgresql() {
  if [ -n "${DOTIMELY_TEST_POSTGRES_URL:-}" ]; then return; fi
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL for the storage tests"
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  # Debian's default authentication on 127.0.0.1 asks for a password: a role and database of our own.
  as_root su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL' >/dev/null || true
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dotimely_test') THEN
    CREATE ROLE dotimely_test LOGIN PASSWORD 'dotimely_test';
  END IF;
END $$;
SQL
  as_root su postgres -c "createdb -O dotimely_test dotimely_test" 2>/dev/null || true
  export DOTIMELY_TEST_POSTGRES_URL="postgresql+asyncpg://dotimely_test:dotimely_test@127.0.0.1:5432/dotimely_test"
}

# The browser tests (tests/browser) drive Debian's Chromium with npm's playwright-core (pinned in
# tests/browser/package-lock.json). A failure here is reported by those tests (they fail under CI).
install_browser_test_tools() {
  local needed=()
  command -v chromium >/dev/null || needed+=(chromium)
  command -v node >/dev/null || needed+=(nodejs)
  command -v npm >/dev/null || needed+=(npm)
  if [ "${#needed[@]}" -gt 0 ]; then
    say "installing for the browser tests: ${needed[*]}"
    apt_install "${needed[@]}" || say "could not install ${needed[*]}; the browser tests will fail"
  fi
  local stamp
  stamp="tests/browser/node_modules/.installed-$(sha256sum tests/browser/package-lock.json | cut -c1-16)"
  if [ ! -f "$stamp" ] && command -v npm >/dev/null; then
    say "installing playwright-core for the browser tests"
    if (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      touch "$stamp"
    else
      say "npm ci in tests/browser failed; the browser tests will fail"
    fi
  fi
}

# Lint and types before the suite: seconds, and a finding stops the run before the long part starts.
check_lint_and_types() {
  say "ruff check (lint: dotimely_chat, tests, bench)"
  if ! "$VENV/bin/ruff" check --quiet dotimely_chat tests bench; then
    say "ruff found the problems above; fix them (many with '$VENV/bin/ruff check --fix') and run again"
    exit 1
  fi
  say "mypy (types: strict on policies, services, storage; configured in pyproject.toml)"
  if ! "$VENV/bin/mypy"; then
    say "mypy found the type errors above; fix them and run again"
    exit 1
  fi
}

command="${1:-up}"
install_debian_packages
install_python_packages
case "$command" in
  test)
    shift || true
    install_ejabberd
    check_lint_and_types
    ensure_test_postgresql
    install_browser_test_tools
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    if [ "$(config_server_kind "$@")" = "ejabberd" ]; then install_ejabberd; fi
    exec "$VENV/bin/dotimely-chat" "$@"
    ;;
esac
