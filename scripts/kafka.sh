#!/usr/bin/env bash
# The one way BloomWatch runs Apache Kafka (KRaft, single node acting as broker and controller,
# bound to 127.0.0.1): used by `bloomwatch up`, the test fixture (streams/broker.py) and .ci/run.
#
# Usage: scripts/kafka.sh fetch
#        scripts/kafka.sh start  [--dir DIR] [--port PORT] [--controller-port PORT] [--timeout S]
#        scripts/kafka.sh stop   [--dir DIR] [--timeout S]
#        scripts/kafka.sh status [--dir DIR]
#
# fetch   resolves the Kafka jars from Maven Central (scripts/kafka/pom.xml) into the lib dir;
#         a no-op (no JVM, no network) when that pom was already fetched.
# start   fetches if needed, formats DIR/data on first use, starts the broker in the background,
#         waits until it has started and accepts connections, prints the bootstrap address.
#         The previous runs' logs are kept as DIR/server.log.1 (latest) .. server.log.5.
# stop    asks the broker to shut down (SIGTERM, controlled shutdown); SIGKILL after the timeout.
# status  exit 0 and "running" when the broker of DIR is alive, exit 3 otherwise.
#
# Defaults: DIR = ${BLOOMWATCH_HOME:-<repo>/.bloomwatch}/kafka; PORT = the port of
# ${BLOOMWATCH_KAFKA_BOOTSTRAP:-127.0.0.1:9092}; controller port = ${BLOOMWATCH_KAFKA_CONTROLLER_PORT:-PORT + 1};
# lib dir = ${BLOOMWATCH_KAFKA_LIB:-<repo>/.kafka/lib} (shared by every DIR: jars are read-only);
# Maven's download cache = ${BLOOMWATCH_KAFKA_M2:-<repo>/.kafka/m2}.
# JVM heap: KAFKA_HEAP_OPTS (default -Xms256m -Xmx1g).
# SASL (docs/security.md): with BLOOMWATCH_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT the client port
# is a SASL_PLAINTEXT listener taking SCRAM-SHA-256 and SCRAM-SHA-512, and the first start creates
# the user BLOOMWATCH_KAFKA_SASL_USERNAME with BLOOMWATCH_KAFKA_SASL_PASSWORD (or the contents of
# BLOOMWATCH_KAFKA_SASL_PASSWORD_FILE) for both; the broker talks to itself as that user. The
# password goes into DIR/server.properties (mode 600), never into a log or onto a command line.
# SSL listeners need keystores and are left to a real deployment.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM_DIR="$REPO/scripts/kafka"
LIB="${BLOOMWATCH_KAFKA_LIB:-$REPO/.kafka/lib}"
M2="${BLOOMWATCH_KAFKA_M2:-$REPO/.kafka/m2}"  # Maven's local repository: inside the project, never ~/.m2
home="${BLOOMWATCH_HOME:-$REPO/.bloomwatch}"
[[ "$home" = /* ]] || home="$REPO/$home"
DIR="$home/kafka"
bootstrap="${BLOOMWATCH_KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
PORT="${bootstrap##*:}"
CONTROLLER_PORT=""
TIMEOUT=90
PROTOCOL="${BLOOMWATCH_KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

command="${1:-}"
[[ -n "$command" ]] || die "usage: kafka.sh {fetch|start|stop|status} [--dir DIR] [--port PORT] ..."
shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
CONTROLLER_PORT="${CONTROLLER_PORT:-${BLOOMWATCH_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PID_FILE="$DIR/broker.pid"
LOG_FILE="$DIR/server.log"
LOG_KEEP=5  # previous runs' logs kept as server.log.1 .. server.log.5

fetch() {
  # The stamp records which pom the jars came from, so an edited pom (new Kafka version) refetches.
  local stamp
  stamp="$(sha256sum "$POM_DIR/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$LIB/.pom.sha256" && "$(cat "$LIB/.pom.sha256")" == "$stamp" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn (Apache Maven) is needed to fetch Kafka"
  command -v java >/dev/null || die "java (17+) is needed to run Kafka"
  local version staging started=$SECONDS
  version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM_DIR/pom.xml")"
  echo "kafka.sh: fetching Apache Kafka $version (the kafka_2.13 broker and its runtime jars, about 40 MB)" \
    "from Maven Central into $LIB; Maven's cache: $M2" >&2
  staging="$LIB.partial.$$"
  rm -rf "$staging"
  # -B -q: no progress lines; Maven 3.8 still writes colour resets, so escape codes are stripped.
  (cd "$POM_DIR" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$M2" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$staging" 2>&1 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g'; exit "${PIPESTATUS[0]}") >&2 \
    || die "fetching Kafka from Maven Central failed (see above)"
  echo "kafka.sh: fetched $(find "$staging" -name '*.jar' | wc -l) jars ($(du -sh "$staging" | cut -f1)) in $((SECONDS - started))s" >&2
  echo "$stamp" >"$staging/.pom.sha256"
  rm -rf "$LIB"
  mkdir -p "$(dirname "$LIB")"
  mv "$staging" "$LIB"
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  # After a reboot or crash the pid may belong to another process: check it is this broker.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$DIR/server.properties" || return 1
  fi
  echo "$pid"
}

java_cmd() {
  # shellcheck disable=SC2086
  JAVA_CMD=(java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$POM_DIR/log4j2.properties" -Dkafka.logs.dir="$DIR" -cp "$LIB/*")
}

sasl_credentials() {
  # Sets SASL_USER and SASL_PASSWORD from the settings' environment variables.
  SASL_USER="${BLOOMWATCH_KAFKA_SASL_USERNAME:-}"
  SASL_PASSWORD="${BLOOMWATCH_KAFKA_SASL_PASSWORD:-}"
  if [[ -z "$SASL_PASSWORD" && -n "${BLOOMWATCH_KAFKA_SASL_PASSWORD_FILE:-}" ]]; then
    SASL_PASSWORD="$(<"$BLOOMWATCH_KAFKA_SASL_PASSWORD_FILE")"
  fi
  [[ -n "$SASL_USER" && -n "$SASL_PASSWORD" ]] \
    || die "SASL_PLAINTEXT needs BLOOMWATCH_KAFKA_SASL_USERNAME and BLOOMWATCH_KAFKA_SASL_PASSWORD (or _PASSWORD_FILE)"
  local unsafe='[]"\\,=]'
  [[ ! "$SASL_USER$SASL_PASSWORD" =~ $unsafe ]] || die 'the SASL user name and password may not contain " \ , = or ]'
}

write_listeners() {
  case "$PROTOCOL" in
    PLAINTEXT)
      cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
      ;;
    SASL_PLAINTEXT)
      local jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$SASL_USER\" password=\"$SASL_PASSWORD\";"
      cat <<EOF
listeners=SASL_PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$jaas
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$jaas
EOF
      ;;
    *) die "BLOOMWATCH_KAFKA_SECURITY_PROTOCOL=$PROTOCOL: this script runs PLAINTEXT or SASL_PLAINTEXT (SSL: docs/security.md)" ;;
  esac
}

write_config() {
  # Tuned for one small node: replication 1 for the internal topics, no rebalance delay (a group
  # starts consuming at once), few offset partitions (fast first group join), small segments.
  # umask 077: with SASL the file holds the broker's own password.
  (umask 077; {
  cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
EOF
  write_listeners
  cat <<EOF
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=16777216
log.retention.hours=168
message.max.bytes=4194304
EOF
  } >"$DIR/server.properties")
}

rotate_log() {
  # A crash's evidence is the previous run's log: keep the last LOG_KEEP runs as server.log.1 (the
  # latest) ... server.log.$LOG_KEEP instead of truncating it. The new run starts an empty file,
  # so waiting for "Kafka Server started" never matches an older run's line.
  local n
  for ((n = LOG_KEEP - 1; n >= 1; n--)); do
    [[ -f "$LOG_FILE.$n" ]] && mv -f "$LOG_FILE.$n" "$LOG_FILE.$((n + 1))"
  done
  [[ -s "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  : >"$LOG_FILE"
}

start() {
  local pid
  if pid="$(running_pid)"; then
    echo "kafka.sh: already running (pid $pid) from $DIR" >&2
    echo "127.0.0.1:$PORT"
    return 0
  fi
  fetch
  java_cmd
  [[ "$PROTOCOL" != SASL_PLAINTEXT ]] || sasl_credentials
  write_config
  if [[ ! -f "$DIR/data/meta.properties" ]]; then
    local cluster_id
    # `--cluster-id=ID`, not `--cluster-id ID`: a base64url id may start with "-" (argparse would take it for an option)
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    # The SCRAM user is created here, with the cluster's first metadata (KRaft keeps users in it).
    # Its password must not be on a command line, where every local user reads it (ps,
    # /proc/PID/cmdline): the main class and its arguments go into a java argument file (mode 600,
    # removed after). The launcher expands @files only up to the main class, so it is in the file.
    local args="$DIR/format.args"
    (umask 077; {
      printf '%s\n' kafka.tools.StorageTool format "--cluster-id=$cluster_id" --config "\"$DIR/server.properties\"" --ignore-formatted
      if [[ "$PROTOCOL" == SASL_PLAINTEXT ]]; then
        printf -- '--add-scram\n"SCRAM-SHA-%s=[name=%s,password=%s]"\n' 256 "$SASL_USER" "$SASL_PASSWORD" 512 "$SASL_USER" "$SASL_PASSWORD"
      fi
    } >"$args")
    "${JAVA_CMD[@]}" "@$args" >"$DIR/format.log" 2>&1 \
      || { rm -f "$args"; cat "$DIR/format.log" >&2; die "formatting $DIR/data failed"; }
    rm -f "$args"
  fi
  rotate_log
  # setsid: the broker outlives the shell that started it and ignores its terminal's Ctrl-C;
  # `stop` ends it. A background job is no group leader, so setsid execs java and $! is its pid.
  setsid "${JAVA_CMD[@]}" kafka.Kafka "$DIR/server.properties" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + TIMEOUT))
  until grep -q "Kafka Server started" "$LOG_FILE" && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    # kill -0, not running_pid: until setsid has exec'd java, the pid's cmdline is still bash's.
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      tail -n 40 "$LOG_FILE" >&2
      die "broker exited during start-up; log: $LOG_FILE"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOG_FILE" >&2
      stop
      die "broker did not start within ${TIMEOUT}s; log: $LOG_FILE"
    fi
    sleep 0.2
  done
  echo "kafka.sh: broker up on 127.0.0.1:$PORT (pid $(cat "$PID_FILE"), data $DIR/data, log $LOG_FILE)" >&2
  echo "127.0.0.1:$PORT"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    echo "kafka.sh: not running ($DIR)" >&2
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "kafka.sh: broker $pid ignored SIGTERM for ${TIMEOUT}s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  echo "kafka.sh: stopped (pid $pid)" >&2
}

status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running pid=$pid dir=$DIR log=$LOG_FILE"
  else
    echo "stopped dir=$DIR"
    exit 3
  fi
}

case "$command" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "unknown command $command (fetch|start|stop|status)" ;;
esac
