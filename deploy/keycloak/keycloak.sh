#!/usr/bin/env bash
# Keycloak (the OpenID Connect provider for development and tests), from Maven Central.
#   deploy/keycloak/keycloak.sh install   fetch org.keycloak:keycloak-quarkus-dist:<version>:zip into
#                                         .cache/keycloak and unpack it (idempotent)
#   deploy/keycloak/keycloak.sh start     start in development mode in the background with the realm
#                                         file imported, wait until the realm answers
#   deploy/keycloak/keycloak.sh run       the same in the foreground
#   deploy/keycloak/keycloak.sh stop      stop the server started by start
#   deploy/keycloak/keycloak.sh url       print the realm's issuer URL
# Settings: KEYCLOAK_PORT (8080), KEYCLOAK_DATA (state dir, default .cache/keycloak/data-<port>),
# KEYCLOAK_ADMIN_PASSWORD (the bootstrap admin's, user "admin"; default "admin": development only).
# The realm (realm.json here) is imported on first start; delete the data dir to start afresh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=26.7.3
cache="$root/.cache/keycloak"
home="$cache/keycloak-$version"
port="${KEYCLOAK_PORT:-8080}"
data="${KEYCLOAK_DATA:-$cache/data-$port}"
pidfile="$data/keycloak.pid"
realm=jingkang

need() { command -v "$1" >/dev/null 2>&1 || { echo "keycloak.sh: '$1' is missing; $2" >&2; exit 1; }; }

install() {
  need java "install a JDK 17 (Debian: openjdk-17-jre-headless)"
  if [ -f "$home/.complete" ]; then return; fi
  need mvn "install Maven (Debian: maven)"
  need unzip "install unzip (Debian: unzip)"
  echo "keycloak.sh: fetching Keycloak $version from Maven Central into $cache" >&2
  mkdir -p "$cache"
  rm -rf "$home" "$cache/dist"
  mvn -q -B -Dmaven.repo.local="$cache/m2" dependency:copy \
    -Dartifact="org.keycloak:keycloak-quarkus-dist:$version:zip" -DoutputDirectory="$cache/dist" >&2
  unzip -q "$cache/dist/keycloak-quarkus-dist-$version.zip" -d "$cache/unpack"
  mv "$cache/unpack/keycloak-$version" "$home"
  rm -rf "$cache/unpack" "$cache/dist" "$cache/m2/org/keycloak/keycloak-quarkus-dist"  # keep one copy, unpacked
  touch "$home/.complete"
}

prepare() {
  mkdir -p "$data/import"
  cp "$here/realm.json" "$data/import/realm.json"
}

# Development mode: H2 in the data dir, HTTP on 127.0.0.1 only, the realm imported if absent.
args() {
  echo start-dev --http-host=127.0.0.1 --http-port="$port" --http-management-port=$((port + 1)) \
    --health-enabled=true --import-realm --db-url-properties=";AUTO_SERVER=FALSE" \
    --hostname-strict=false
}

kc() {
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="${KEYCLOAK_ADMIN_PASSWORD:-admin}" \
  KC_DIR="$data" KC_DB_URL_PATH="$data/h2" JAVA_OPTS_KC_HEAP="-Xms128m -Xmx512m" \
    "$@"
}

ready() {
  curl -fsS -o /dev/null "http://127.0.0.1:$port/realms/$realm/.well-known/openid-configuration" 2>/dev/null
}

wait_ready() {
  for _ in $(seq 1 240); do
    if ready; then return 0; fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "keycloak.sh: Keycloak exited; see $data/keycloak.out" >&2; tail -20 "$data/keycloak.out" >&2; return 1
    fi
    sleep 0.5
  done
  echo "keycloak.sh: Keycloak not ready after 120s; see $data/keycloak.out" >&2
  return 1
}

case "${1:-}" in
  install) install ;;
  start)
    install; prepare
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "keycloak.sh: already running (pid $(cat "$pidfile")) on 127.0.0.1:$port" >&2; exit 0
    fi
    # shellcheck disable=SC2046
    kc nohup "$home/bin/kc.sh" $(args) > "$data/keycloak.out" 2>&1 &
    echo $! > "$pidfile"
    wait_ready
    echo "keycloak.sh: Keycloak ready: $("$0" url)" >&2 ;;
  run)
    install; prepare
    # shellcheck disable=SC2046
    kc exec "$home/bin/kc.sh" $(args) ;;
  stop)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill "$(cat "$pidfile")"
      for _ in $(seq 1 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    fi
    rm -f "$pidfile" ;;
  url) echo "http://127.0.0.1:$port/realms/$realm" ;;
  *) echo "usage: $0 install|start|run|stop|url" >&2; exit 2 ;;
esac
