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
  mkdir -p "$data" "$home/data/import"
  # --import-realm reads <home>/data/import; the same file for every instance, each with its own database.
  cp "$here/realm.json" "$home/data/import/jingkang-realm.json"
}

# Development mode (HTTP on 127.0.0.1 only), the database (H2) and transaction log in this
# instance's data dir, the realm imported unless it exists. Build-time options (database kind,
# health) are the same for every instance so Keycloak's one-off build is done once.
args() {
  echo -Dquarkus.transaction-manager.object-store.directory="$data/transaction-logs" \
    start-dev --http-host=127.0.0.1 --http-port="$port" --http-management-port=$((port + 1)) \
    --health-enabled=true --import-realm "--db-url=jdbc:h2:file:$data/h2/keycloakdb;NON_KEYWORDS=VALUE"
}

kc() {  # replaces the calling (sub)shell, so the pid recorded is kc.sh's, which passes signals on to Java
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="${KEYCLOAK_ADMIN_PASSWORD:-admin}" \
  JAVA_OPTS_KC_HEAP="-Xms64m -Xmx512m" exec "$@"
}

ready() {
  curl -fsS -o /dev/null "http://127.0.0.1:$port/realms/$realm/.well-known/openid-configuration" 2>/dev/null
}

wait_ready() {
  for _ in $(seq 1 600); do  # ~12 s on an idle machine; minutes on a busy one
    if ready; then return 0; fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "keycloak.sh: Keycloak exited; see $data/keycloak.out" >&2; tail -20 "$data/keycloak.out" >&2; return 1
    fi
    sleep 0.5
  done
  echo "keycloak.sh: Keycloak not ready after 300s; see $data/keycloak.out" >&2
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
    kc "$home/bin/kc.sh" $(args) ;;
  stop)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$pid" 2>/dev/null; then pkill -9 -P "$pid" || true; kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$pidfile" ;;
  url) echo "http://127.0.0.1:$port/realms/$realm" ;;
  *) echo "usage: $0 install|start|run|stop|url" >&2; exit 2 ;;
esac
