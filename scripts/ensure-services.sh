#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 for the test suite.
#
# Idempotent and quick when both are up (two TCP probes). On a fresh Debian/Ubuntu machine
# it installs the `postgresql` and `redis-server` packages, lets local TCP connections in
# without a password (test machines only), and starts both. Fails loudly if it cannot.
set -euo pipefail

PG_PORT="${VISIONGATE_TEST_PG_PORT:-5432}"
REDIS_PORT="${VISIONGATE_TEST_REDIS_PORT:-6379}"

log() { echo "ensure-services: $*" >&2; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local port=$1 what=$2
    for _ in $(seq 1 150); do
        listening "$port" && return 0
        sleep 0.2
    done
    log "$what did not come up on 127.0.0.1:$port"
    return 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    log "installing $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

trust_local_tcp() {
    # Fresh installs ask for passwords over TCP; the tests connect as `postgres` without one.
    local hba="/etc/postgresql/$1/main/pg_hba.conf"
    if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        log "allowing passwordless TCP connections from 127.0.0.1 in $hba"
        as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
}

ensure_postgres() {
    listening "$PG_PORT" && return 0
    local fresh=0
    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(pg_version)" ]; then
        apt_install postgresql
        fresh=1
    fi
    local version
    version="$(pg_version)"
    [ "$fresh" -eq 1 ] && trust_local_tcp "$version"
    log "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for "$PG_PORT" PostgreSQL
}

ensure_redis() {
    listening "$REDIS_PORT" && return 0
    command -v redis-server >/dev/null || apt_install redis-server
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no >/dev/null
    wait_for "$REDIS_PORT" Redis
}

ensure_postgres
ensure_redis
