#!/usr/bin/env bash
# Apache Kafka, single KRaft node, from Maven Central jars.
#   deploy/kafka/kafka.sh install   resolve the jars into .cache/kafka/libs (idempotent)
#   deploy/kafka/kafka.sh start     format (first time) and start in the background, wait until ready
#   deploy/kafka/kafka.sh run       format and run in the foreground
#   deploy/kafka/kafka.sh stop      stop the broker started by start
# Settings: KAFKA_DATA (log dir, default .cache/kafka/data), KAFKA_PORT (9092).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache/kafka"
libs="$cache/libs"
data="${KAFKA_DATA:-$cache/data}"
port="${KAFKA_PORT:-9092}"
cport=$((port + 1))
pidfile="$data/kafka.pid"

need() { command -v "$1" >/dev/null 2>&1 || { echo "kafka.sh: '$1' is missing; $2" >&2; exit 1; }; }

install() {
  need java "install a JDK 17 (Debian: openjdk-17-jre-headless)"
  if [ -f "$libs/.complete" ] && [ "$libs/.complete" -nt "$here/pom.xml" ]; then return; fi
  need mvn "install Maven (Debian: maven)"
  echo "kafka.sh: resolving Apache Kafka jars from Maven Central into $libs" >&2
  rm -rf "$libs"
  mvn -q -B -f "$here/pom.xml" -Dmaven.repo.local="$cache/m2" \
    dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime >&2
  touch "$libs/.complete"
}

config() {
  mkdir -p "$data/log"
  sed -e "s#127.0.0.1:9092#127.0.0.1:$port#g" -e "s#127.0.0.1:9093#127.0.0.1:$cport#g" \
    "$here/server.properties" > "$data/server.properties"
  echo "log.dirs=$data/log" >> "$data/server.properties"
}

kjava() {
  java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*" "$@"
}

format() {
  if [ ! -f "$data/log/meta.properties" ]; then
    kjava kafka.tools.StorageTool format -t "$(cat "$data/cluster.id" 2>/dev/null || uuidgen_kafka)" \
      -c "$data/server.properties" >/dev/null
  fi
}

uuidgen_kafka() {
  # A Kafka cluster id is a base64url uuid; keep it so a re-format is never needed.
  local id
  id=$(kjava kafka.tools.StorageTool random-uuid)
  echo "$id" > "$data/cluster.id"
  echo "$id"
}

ready() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

wait_ready() {
  for _ in $(seq 1 120); do
    if ready && grep -q "Kafka Server started" "$data/kafka.out" 2>/dev/null; then return 0; fi
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "kafka.sh: broker exited; see $data/kafka.out" >&2; tail -20 "$data/kafka.out" >&2; return 1
    fi
    sleep 0.5
  done
  echo "kafka.sh: broker not ready after 60s; see $data/kafka.out" >&2
  return 1
}

case "${1:-}" in
  install) install ;;
  start)
    install; config; format
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "kafka.sh: already running (pid $(cat "$pidfile")) on 127.0.0.1:$port" >&2; exit 0
    fi
    nohup java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*" kafka.Kafka "$data/server.properties" > "$data/kafka.out" 2>&1 &
    echo $! > "$pidfile"
    wait_ready
    echo "kafka.sh: Kafka ready on 127.0.0.1:$port" >&2 ;;
  run)
    install; config; format
    exec java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$libs/*" kafka.Kafka "$data/server.properties" ;;
  stop)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill "$(cat "$pidfile")"
      for _ in $(seq 1 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    fi
    rm -f "$pidfile" ;;
  *) echo "usage: $0 install|start|run|stop" >&2; exit 2 ;;
esac
