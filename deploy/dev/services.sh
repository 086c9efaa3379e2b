#!/usr/bin/env bash
# services.sh: run the Redis and ClickHouse servers that refedge's tests and
# `make run` use, as plain background processes on loopback ports, with all of
# their state (data, logs, pid files, generated config) in one folder.
#
#   services.sh install [--browser] [--tools] [--deploy]   apt-get what is missing
#   services.sh start | stop | status | env
#   services.sh start-cluster | stop-cluster
#       a 3-master Redis Cluster and a second ClickHouse server; the two
#       ClickHouse servers form the two-shard cluster RFE_CH_CLUSTER (a
#       config.d/ file on each, reloaded without a restart). start-cluster
#       starts the single servers too; stop stops the cluster as well.
#
# Environment (defaults in brackets):
#   RFE_REDIS_PORT    [16379]  Redis, 127.0.0.1
#   RFE_CH_PORT       [19000]  ClickHouse native protocol, 127.0.0.1
#   RFE_CH_HTTP_PORT  [18123]  ClickHouse HTTP, 127.0.0.1
#   RFE_STATE_DIR     [<repo>/.run/services]
#   RFE_CH_USER       [clickhouse when run as root, else the current user]
#   RFE_START_TIMEOUT [60] seconds to wait for the servers to answer
#   RFE_STOP_TIMEOUT  [30] seconds to wait after SIGTERM before SIGKILL
#   RFE_REDIS_CLUSTER_PORTS [17001,17002,17003]  Redis Cluster masters, 127.0.0.1
#   RFE_CH2_PORT      [19001]  second ClickHouse server (shard 2), native protocol
#   RFE_CH2_HTTP_PORT [18124]  second ClickHouse server, HTTP
#   RFE_CH_CLUSTER    [refedge_2s]  name of the two-shard ClickHouse cluster
set -euo pipefail
set +m # see spawn

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

REDIS_PORT=${RFE_REDIS_PORT:-16379}
CH_PORT=${RFE_CH_PORT:-19000}
CH_HTTP_PORT=${RFE_CH_HTTP_PORT:-18123}
STATE=${RFE_STATE_DIR:-$repo/.run/services}
START_TIMEOUT=${RFE_START_TIMEOUT:-60}
STOP_TIMEOUT=${RFE_STOP_TIMEOUT:-30}
case $STATE in /*) ;; *) STATE=$PWD/$STATE ;; esac

REDIS_DIR=$STATE/redis
CH_DIR=$STATE/clickhouse
HOST=127.0.0.1

REDIS_CLUSTER_PORTS=${RFE_REDIS_CLUSTER_PORTS:-17001,17002,17003}
CH2_PORT=${RFE_CH2_PORT:-19001}
CH2_HTTP_PORT=${RFE_CH2_HTTP_PORT:-18124}
CH_CLUSTER=${RFE_CH_CLUSTER:-refedge_2s}
RC_DIR=$STATE/redis-cluster
CH2_DIR=$STATE/clickhouse2

log() { printf 'services.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

for v in REDIS_PORT CH_PORT CH_HTTP_PORT START_TIMEOUT STOP_TIMEOUT CH2_PORT CH2_HTTP_PORT; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done
[[ $REDIS_CLUSTER_PORTS =~ ^[0-9]+(,[0-9]+){2,}$ ]] ||
	die "RFE_REDIS_CLUSTER_PORTS must be three or more comma-separated ports, got '$REDIS_CLUSTER_PORTS'"
[[ $CH_CLUSTER =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "RFE_CH_CLUSTER must be an identifier, got '$CH_CLUSTER'"

# ---------------------------------------------------------------- install

# pkg_for maps a command to the Debian package that provides it.
pkg_for() {
	case $1 in
	redis-server | redis-cli) echo redis-server ;;
	*) echo "$1" ;;
	esac
}

cmd_install() {
	local want=(redis-server redis-cli clickhouse-server clickhouse-client)
	local arg
	for arg in "$@"; do
		case $arg in
		--browser) want+=(chromium) ;;
		--tools) want+=(wrk kcat) ;;
		--deploy) want+=(nginx docker-compose) ;;
		*) die "install: unknown flag $arg (want --browser, --tools, --deploy)" ;;
		esac
	done
	local missing=() c p
	for c in "${want[@]}"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			p=$(pkg_for "$c")
			[[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		log "install: nothing to do (${want[*]} present)"
		return 0
	fi
	local sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || die "install: need root or sudo to install ${missing[*]}"
		sudo=(sudo)
	fi
	log "install: installing ${missing[*]}"
	local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600)
	"${apt[@]}" update
	"${apt[@]}" install -y --no-install-recommends "${missing[@]}"
}

# ---------------------------------------------------------------- helpers

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# alive reports whether process $1 exists and is not a zombie. The servers
# are reparented to init when the starting shell exits, and an init that reaps
# lazily (as in some containers) leaves them as zombies for a while.
alive() {
	local state
	kill -0 "$1" 2>/dev/null || [[ -d /proc/$1 ]] || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $state != Z && $state != X ]]
}

# port_open reports whether something accepts TCP connections on HOST:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# pid_of prints the pid recorded in pid file $1 if that process is alive and
# runs program $2 (guards against a reused pid).
pid_of() {
	local file=$1 prog=$2 pid
	[[ -s $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$prog" || return 1
	echo "$pid"
}

redis_pid() { pid_of "$REDIS_DIR/redis.pid" redis-server; }
ch_pid() { pid_of "$CH_DIR/clickhouse.pid" clickhouse-server; }

redis_ready() { [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
ch_ready() {
	[[ $(clickhouse-client --host "$HOST" --port "$CH_PORT" --connect_timeout 1 -q 'SELECT 1' 2>/dev/null) == 1 ]]
}

redis_logs() { tail -n 40 "$REDIS_DIR/redis.log" "$REDIS_DIR/stdout.log" 2>/dev/null || true; }
ch_logs() {
	tail -n 40 "$CH_DIR/stdout.log" "$CH_DIR/log/clickhouse-server.err.log" \
		"$CH_DIR/log/clickhouse-server.log" 2>/dev/null || true
}

# wait_ready NAME PID READY_FN LOGS_FN polls READY_FN until it succeeds, the
# process dies, or START_TIMEOUT passes (then the process is stopped).
wait_ready() {
	local name=$1 pid=$2 ready=$3 logs=$4
	local deadline=$(($(now_ms) + START_TIMEOUT * 1000))
	until "$ready"; do
		if ! alive "$pid"; then
			log "$name (pid $pid) exited during start-up; log tail:"
			"$logs" >&2
			return 1
		fi
		if (($(now_ms) > deadline)); then
			log "$name (pid $pid) did not answer within ${START_TIMEOUT}s; log tail:"
			"$logs" >&2
			stop_pid "$name" "$pid"
			return 1
		fi
		sleep 0.1
	done
}

# stop_pid NAME PID sends SIGTERM, polls until the process is gone, and sends
# SIGKILL after STOP_TIMEOUT.
stop_pid() {
	local name=$1 pid=$2
	kill -TERM "$pid" 2>/dev/null || return 0
	local deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
	while alive "$pid"; do
		if (($(now_ms) > deadline)); then
			log "$name (pid $pid) still running after ${STOP_TIMEOUT}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$(($(now_ms) + 5000))
			while alive "$pid" && (($(now_ms) < deadline)); do sleep 0.05; done
			break
		fi
		sleep 0.05
	done
	log "$name stopped (pid $pid)"
}

# spawn OUT CMD... starts CMD in the background in its own session (so a
# Ctrl-C or a process-group kill aimed at the caller does not reach it), with
# stdin from /dev/null, output appended to OUT, and no other inherited file
# descriptors (the lock on $STATE/.lock, a caller's pipes). $! is CMD's pid:
# without job control the subshell is no group leader, so setsid does not fork.
spawn() {
	local out=$1
	shift
	(
		local fd
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
		done
		exec setsid "$@" >>"$out" 2>&1 </dev/null
	) &
}

lock_state() {
	mkdir -p "$STATE"
	exec 9>"$STATE/.lock"
	flock -w $((2 * START_TIMEOUT + 10)) 9 || die "another services.sh still holds $STATE/.lock"
}

# ---------------------------------------------------------------- redis

redis_config() {
	cat >"$REDIS_DIR/redis.conf" <<EOF
# Generated by deploy/dev/services.sh; rewritten on every start.
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize no
supervised no
dir $REDIS_DIR
logfile $REDIS_DIR/redis.log
loglevel notice
dbfilename dump.rdb
save 60 1000
appendonly no
databases 16
EOF
}

start_redis() {
	command -v redis-server >/dev/null || die "redis-server not installed; run: $0 install"
	local pid
	if pid=$(redis_pid); then
		if redis_ready; then
			log "redis already running (pid $pid, $HOST:$REDIS_PORT)"
			return 0
		fi
		log "redis (pid $pid) is running but not answering yet; waiting"
		wait_ready redis "$pid" redis_ready redis_logs
		return
	fi
	if port_open "$REDIS_PORT"; then
		die "redis: $HOST:$REDIS_PORT is already in use by another process; set RFE_REDIS_PORT"
	fi
	mkdir -p "$REDIS_DIR"
	redis_config
	spawn "$REDIS_DIR/stdout.log" redis-server "$REDIS_DIR/redis.conf"
	pid=$!
	echo "$pid" >"$REDIS_DIR/redis.pid"
	wait_ready redis "$pid" redis_ready redis_logs || return 1
	log "redis started (pid $pid, $HOST:$REDIS_PORT)"
}

# ---------------------------------------------------------------- clickhouse

ch_config() {
	# One template for these servers and the tests' private ones (deploy/dev/chconf).
	sed -e "s|{{DIR}}|$CH_DIR|g" -e "s|{{HOST}}|$HOST|g" -e "s|{{TCP_PORT}}|$CH_PORT|g" \
		-e "s|{{HTTP_PORT}}|$CH_HTTP_PORT|g" "$here/chconf/config.xml" >"$CH_DIR/config.xml"
	cp "$here/chconf/users.xml" "$CH_DIR/users.xml"
}

# ch_run_as prints the user ClickHouse should run as: RFE_CH_USER if set;
# when root, the package's `clickhouse` user if it exists and can reach the
# state folder (ClickHouse 18.16 itself runs fine as root, but a database
# server has no need for it); otherwise the current user.
ch_run_as() {
	if [[ -n ${RFE_CH_USER:-} ]]; then
		echo "$RFE_CH_USER"
	elif ((EUID == 0)) && id clickhouse >/dev/null 2>&1 &&
		setpriv --reuid=clickhouse --regid=clickhouse --init-groups test -x "$STATE"; then
		echo clickhouse
	else
		id -un
	fi
}

start_clickhouse() {
	command -v clickhouse-server >/dev/null || die "clickhouse-server not installed; run: $0 install"
	command -v clickhouse-client >/dev/null || die "clickhouse-client not installed; run: $0 install"
	local pid
	if pid=$(ch_pid); then
		if ch_ready; then
			log "clickhouse already running (pid $pid, native $HOST:$CH_PORT, http $HOST:$CH_HTTP_PORT)"
			return 0
		fi
		log "clickhouse (pid $pid) is running but not answering yet; waiting"
		wait_ready clickhouse "$pid" ch_ready ch_logs
		return
	fi
	local p
	for p in "$CH_PORT" "$CH_HTTP_PORT"; do
		if port_open "$p"; then
			die "clickhouse: $HOST:$p is already in use by another process; set RFE_CH_PORT / RFE_CH_HTTP_PORT"
		fi
	done
	mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas,log}
	ch_config
	local user run=()
	user=$(ch_run_as)
	if [[ $user != "$(id -un)" ]]; then
		chown -R "$user:" "$CH_DIR"
		run=(setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --inh-caps=-all)
	fi
	spawn "$CH_DIR/stdout.log" "${run[@]}" clickhouse-server --config-file="$CH_DIR/config.xml"
	pid=$!
	echo "$pid" >"$CH_DIR/clickhouse.pid"
	wait_ready clickhouse "$pid" ch_ready ch_logs || return 1
	log "clickhouse started as $user (pid $pid, native $HOST:$CH_PORT, http $HOST:$CH_HTTP_PORT)"
}

# ---------------------------------------------------------------- clusters
# A Redis Cluster of three masters (no replicas) and a second ClickHouse
# server, for the scale-out tests (internal/clustertest, deploy/nginx). They
# only run when asked for: start-cluster / stop-cluster.

rc_ports() { tr ',' ' ' <<<"$REDIS_CLUSTER_PORTS"; }
rc_seeds() { local p out=(); for p in $(rc_ports); do out+=("$HOST:$p"); done; (IFS=,; echo "${out[*]}"); }
rc_pid() { pid_of "$RC_DIR/$RC_PORT/redis.pid" redis-server; }
rc_ready() { [[ $(redis-cli -h "$HOST" -p "$RC_PORT" ping 2>/dev/null) == PONG ]]; }
rc_logs() { tail -n 40 "$RC_DIR/$RC_PORT/redis.log" "$RC_DIR/$RC_PORT/stdout.log" 2>/dev/null || true; }
rc_info() { redis-cli -h "$HOST" -p "$1" cluster info 2>/dev/null | tr -d '\r'; }

start_rc_node() {
	local RC_PORT=$1 pid dir=$RC_DIR/$1
	if pid=$(rc_pid); then
		wait_ready "redis cluster node $RC_PORT" "$pid" rc_ready rc_logs
		return
	fi
	port_open "$RC_PORT" && die "redis cluster: $HOST:$RC_PORT is already in use; set RFE_REDIS_CLUSTER_PORTS"
	mkdir -p "$dir"
	cat >"$dir/redis.conf" <<CONF
# Generated by deploy/dev/services.sh; rewritten on every start.
bind $HOST
port $RC_PORT
protected-mode yes
daemonize no
dir $dir
logfile $dir/redis.log
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
appendonly no
save ""
CONF
	spawn "$dir/stdout.log" redis-server "$dir/redis.conf"
	pid=$!
	echo "$pid" >"$dir/redis.pid"
	wait_ready "redis cluster node $RC_PORT" "$pid" rc_ready rc_logs
}

# start_redis_cluster starts the nodes and, the first time, joins them with
# redis-cli --cluster create; later starts find the cluster in nodes.conf.
start_redis_cluster() {
	command -v redis-server >/dev/null || die "redis-server not installed; run: $0 install"
	local p first
	for p in $(rc_ports); do
		start_rc_node "$p" || return 1
		first=${first:-$p}
	done
	if [[ $(rc_info "$first") == *cluster_known_nodes:1$'\n'* ]] && ! grep -q cluster_state:ok <<<"$(rc_info "$first")"; then
		local seeds=()
		for p in $(rc_ports); do seeds+=("$HOST:$p"); done
		log "redis cluster: creating (${seeds[*]})"
		redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >"$RC_DIR/create.log" 2>&1 ||
			{ cat "$RC_DIR/create.log" >&2; die "redis cluster: create failed"; }
	fi
	local deadline=$(($(now_ms) + START_TIMEOUT * 1000)) ok
	while :; do
		ok=1
		for p in $(rc_ports); do
			grep -q cluster_state:ok <<<"$(rc_info "$p")" || ok=0
		done
		((ok)) && break
		if (($(now_ms) > deadline)); then
			rc_info "$first" >&2
			die "redis cluster: not ok after ${START_TIMEOUT}s; stop-cluster, delete $RC_DIR and start-cluster again"
		fi
		sleep 0.1
	done
	log "redis cluster ok ($(rc_seeds))"
}

ch_cluster_conf() {
	local dir=$1
	mkdir -p "$dir/config.d"
	cat >"$dir/config.d/refedge-cluster.xml.tmp" <<XML
<?xml version="1.0"?>
<!-- Generated by deploy/dev/services.sh start-cluster: two shards of one
     replica each, Distributed over MergeTree, no ZooKeeper. -->
<yandex>
    <remote_servers>
        <$CH_CLUSTER>
            <shard><replica><host>$HOST</host><port>$CH_PORT</port></replica></shard>
            <shard><replica><host>$HOST</host><port>$CH2_PORT</port></replica></shard>
        </$CH_CLUSTER>
    </remote_servers>
</yandex>
XML
	chmod 0755 "$dir/config.d"
	chmod 0644 "$dir/config.d/refedge-cluster.xml.tmp"
	mv "$dir/config.d/refedge-cluster.xml.tmp" "$dir/config.d/refedge-cluster.xml"
}

ch_cluster_visible() {
	[[ $(clickhouse-client --host "$HOST" --port "$1" --connect_timeout 1 \
		-q "SELECT groupArray(port) FROM (SELECT port FROM system.clusters WHERE cluster = '$CH_CLUSTER' ORDER BY shard_num)" \
		2>/dev/null) == "[$CH_PORT,$CH2_PORT]" ]]
}

# start_ch_cluster starts the second server (shard 2) with the same generated
# config as the first, and gives both the cluster definition; a running
# server reloads config.d/ within a few seconds.
start_ch_cluster() {
	ch_cluster_conf "$CH_DIR"
	ch_cluster_conf "$CH2_DIR"
	(
		CH_DIR=$CH2_DIR CH_PORT=$CH2_PORT CH_HTTP_PORT=$CH2_HTTP_PORT
		log "clickhouse shard 2:"
		start_clickhouse
	) || return 1
	local deadline=$(($(now_ms) + START_TIMEOUT * 1000))
	until ch_cluster_visible "$CH_PORT" && ch_cluster_visible "$CH2_PORT"; do
		(($(now_ms) > deadline)) && die "clickhouse: cluster $CH_CLUSTER not visible on both servers after ${START_TIMEOUT}s"
		sleep 0.2
	done
	log "clickhouse cluster $CH_CLUSTER ok (shards $HOST:$CH_PORT, $HOST:$CH2_PORT)"
}

stop_clusters() {
	local p pid RC_PORT
	for p in $(rc_ports); do
		RC_PORT=$p
		if pid=$(rc_pid); then stop_pid "redis cluster node $p" "$pid"; fi
		rm -f "$RC_DIR/$p/redis.pid"
	done
	if pid=$(pid_of "$CH2_DIR/clickhouse.pid" clickhouse-server); then stop_pid "clickhouse shard 2" "$pid"; fi
	rm -f "$CH2_DIR/clickhouse.pid" "$CH_DIR/config.d/refedge-cluster.xml"
}

# ---------------------------------------------------------------- commands

cmd_start() {
	lock_state
	start_redis
	start_clickhouse
}

cmd_start_cluster() {
	lock_state
	start_redis
	start_clickhouse
	start_redis_cluster
	start_ch_cluster
}

cmd_stop_cluster() {
	[[ -d $STATE ]] || return 0
	lock_state
	stop_clusters
}

cmd_stop() {
	[[ -d $STATE ]] || { log "nothing to stop ($STATE does not exist)"; return 0; }
	lock_state
	local pid
	stop_clusters
	if pid=$(ch_pid); then stop_pid clickhouse "$pid"; else log "clickhouse not running"; fi
	rm -f "$CH_DIR/clickhouse.pid"
	if pid=$(redis_pid); then stop_pid redis "$pid"; else log "redis not running"; fi
	rm -f "$REDIS_DIR/redis.pid"
}

cmd_status() {
	local pid rc=0
	if pid=$(redis_pid) && redis_ready; then
		echo "redis:      running (pid $pid) redis://$HOST:$REDIS_PORT"
	elif [[ -n ${pid:-} ]]; then
		echo "redis:      not answering (pid $pid) on $HOST:$REDIS_PORT"; rc=3
	else
		echo "redis:      stopped"; rc=3
	fi
	pid=
	if pid=$(ch_pid) && ch_ready; then
		echo "clickhouse: running (pid $pid) native $HOST:$CH_PORT, http $HOST:$CH_HTTP_PORT"
	elif [[ -n ${pid:-} ]]; then
		echo "clickhouse: not answering (pid $pid) on $HOST:$CH_PORT"; rc=3
	else
		echo "clickhouse: stopped"; rc=3
	fi
	echo "state:      $STATE"
	return "$rc"
}

cmd_env() {
	echo "export REFEDGE_TEST_REDIS_URL=redis://$HOST:$REDIS_PORT/0"
	echo "export REFEDGE_TEST_CLICKHOUSE_DSN=clickhouse://$HOST:$CH_PORT/default"
	echo "export REFEDGE_TEST_CLICKHOUSE_HTTP=http://$HOST:$CH_HTTP_PORT"
	echo "export REFEDGE_TEST_REDIS_CLUSTER=$(rc_seeds)"
	echo "export REFEDGE_TEST_CLICKHOUSE_CLUSTER=$CH_CLUSTER"
	echo "export REFEDGE_TEST_CLICKHOUSE2_DSN=clickhouse://$HOST:$CH2_PORT/default"
	echo "export REFEDGE_TEST_GEO_DIR=$(bash "$repo/deploy/scripts/geo-data.sh" dir)"
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
install) cmd_install "$@" ;;
start) cmd_start ;;
stop) cmd_stop ;;
start-cluster) cmd_start_cluster ;;
stop-cluster) cmd_stop_cluster ;;
status) cmd_status ;;
env) cmd_env ;;
-h | --help | help | "") usage ;;
*) log "unknown command: $cmd"; usage ;;
esac
