#!/usr/bin/env bash
# compare.sh: tusimg side by side with standalone tusd (uploads) and with a
# plain Go http.ServeFile server and nginx (serving), on one machine.
#
# The servers run alternately (A B A B ...), each run on a fresh server with
# a fresh data directory and a free loopback port; "tusimg bench" is the
# client for all of them. Server CPU comes from /proc/<pid>/stat (utime +
# stime, workers included) before and after each run. The table gives each
# side's median and the median of the per-pair ratios A/B; it is printed and
# written to $WORK/results.md, every run's figures to $WORK/raw.tsv.
#
# Usage:  deploy/bench/compare.sh              # 5 pairs, 1 GiB large upload
#         QUICK=1 deploy/bench/compare.sh      # 3 pairs, 256 MiB
# Tunables (environment): WORK PAIRS LARGE_SIZE CHUNK SMALL_SIZE
#   SMALL_COUNT (tmpfs; 8000: seconds, so what a server keeps after each
#   request weighs in) DISK_COUNT (ext4; 2000) CONC GET_COUNT IMAGES TMPFS
#   DISK(=1: also small uploads on $WORK's disk)
#   RUN_DURATION (s, per run) MAX_TOTAL (s, then no new runs)
#   ONLY (workloads to run, e.g. ONLY="large small"; default all: large small
#   small-disk get head get-304)
# Needs bash, coreutils, awk, sort and Go; installs tusd (go install, the
# version pinned in go.mod) and nginx (apt-get) when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then PAIRS=${PAIRS:-3}; LARGE_SIZE=${LARGE_SIZE:-256MiB}; else PAIRS=${PAIRS:-5}; LARGE_SIZE=${LARGE_SIZE:-1GiB}; fi
CHUNK=${CHUNK:-8MiB}
SMALL_SIZE=${SMALL_SIZE:-200KiB}
if [ "$QUICK" = 1 ]; then SMALL_COUNT=${SMALL_COUNT:-2000}; else SMALL_COUNT=${SMALL_COUNT:-8000}; fi
DISK_COUNT=${DISK_COUNT:-2000}
CONC=${CONC:-32}
GET_COUNT=${GET_COUNT:-20000}
IMAGES=${IMAGES:-64}
TMPFS=${TMPFS:-/dev/shm}
DISK=${DISK:-1}
RUN_DURATION=${RUN_DURATION:-120}
MAX_TOTAL=${MAX_TOTAL:-3600}
ONLY=${ONLY:-}
WORK=${WORK:-${TMPDIR:-/tmp}/tusimg-bench}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RAW=$WORK/raw.tsv
START=$SECONDS
FAILED=0
CUR_PID=""   # the server running now
CUR_BENCH="" # the client running now
RUNDIRS=()

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

cleanup() {
	local d b=$CUR_BENCH s=$CUR_PID
	[ -z "$b" ] || stop_server "$b"
	[ -z "$s" ] || stop_server "$s"
	for d in "${RUNDIRS[@]}"; do rm -rf -- "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg_run CMD...: runs CMD in the background and waits for it, so that INT and
# TERM reach the trap at once (bash delays traps while a foreground command
# runs) and cleanup can stop it.
bg_run() {
	local rc=0
	"$@" &
	CUR_BENCH=$!
	wait "$CUR_BENCH" || rc=$?
	CUR_BENCH=""
	return "$rc"
}

# ---- build and install -------------------------------------------------------
build() {
	command -v go >/dev/null || die "Go is required (https://go.dev/dl/)"
	[ -d "$TMPFS" ] && [ -w "$TMPFS" ] || die "TMPFS=$TMPFS is not a writable directory"
	log "building tusimg and the Go file server into $WORK"
	(cd "$ROOT" && go build -o "$WORK/tusimg" ./cmd/tusimg && go build -o "$WORK/fileserver" ./deploy/bench/fileserver)
	local v
	v=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/tus/tusd/v2)
	if [ "$(tusd_version)" != "$v" ]; then
		log "installing tusd $v (go install; takes a few minutes the first time)"
		(cd "$ROOT" && GOBIN=$WORK timeout 1800 go install "github.com/tus/tusd/v2/cmd/tusd@$v")
	fi
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	if ! [ -x "$NGINX" ]; then
		log "installing nginx (apt-get)"
		local sudo=""
		[ "$(id -u)" = 0 ] || sudo=sudo
		$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
		NGINX=$(command -v nginx || echo /usr/sbin/nginx)
		[ -x "$NGINX" ] || die "nginx did not install"
	fi
	IMAGES_DIR=$WORK/images
	rm -rf "$IMAGES_DIR"
	"$WORK/tusimg" bench gen --out "$IMAGES_DIR" --count "$IMAGES" --size "$SMALL_SIZE" >"$WORK/shas.txt"
}

# tusd_version: the module version the installed tusd was built from.
tusd_version() { go version -m "$WORK/tusd" 2>/dev/null | awk '$1 == "mod" { print $3 }'; }

# ---- servers (one at a time: CUR_PID) ------------------------------------------
# free_port: a loopback port nothing listens on, below the ephemeral range
# (so no client connection of a previous run holds it).
free_port() {
	local p i lo
	lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 12000 ] || lo=32768
	for i in $(seq 1 100); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
	done
	die "no free loopback port found"
}

# start_server KIND DIR: starts a fresh server with its data under DIR; sets
# SRV_PID and SRV_URL.
start_server() {
	local kind=$1 dir=$2 port i
	port=$(free_port)
	mkdir -p "$dir/data"
	case $kind in
	tusimg) "$WORK/tusimg" serve --listen "127.0.0.1:$port" --data "$dir/data" --log-level warn \
		--max-size 2GiB --max-pixels 400000000 --max-width 30000 --max-height 30000 >"$dir/server.log" 2>&1 & ;;
	tusd) "$WORK/tusd" -host 127.0.0.1 -port "$port" -upload-dir "$dir/data" -base-path /files/ \
		-max-size $((2 << 30)) -verbose=false -show-startup-logs=false >"$dir/server.log" 2>&1 & ;;
	fileserver)
		[ -d "$dir/data/i" ] || cp -r "$IMAGES_DIR" "$dir/data/i"
		"$WORK/fileserver" -listen "127.0.0.1:$port" -dir "$dir/data/i" >"$dir/server.log" 2>&1 & ;;
	nginx)
		mkdir -p "$dir/data/root" "$dir/tmp"
		[ -d "$dir/data/root/i" ] || cp -r "$IMAGES_DIR" "$dir/data/root/i"
		nginx_conf "$dir" "$port" >"$dir/nginx.conf"
		"$NGINX" -p "$dir" -e "$dir/server.log" -c "$dir/nginx.conf" >>"$dir/server.log" 2>&1 & ;;
	esac
	SRV_PID=$!
	CUR_PID=$SRV_PID
	SRV_URL=http://127.0.0.1:$port
	for i in $(seq 1 200); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	log "$kind did not start; its log:"; tail -n 20 "$dir/server.log" >&2 || true
	return 1
}

nginx_conf() {
	[ "$(id -u)" = 0 ] && echo "user root;"
	cat <<EOF
daemon off;
worker_processes auto;
pid $1/nginx.pid;
error_log $1/server.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	types { }
	default_type image/png;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	server {
		listen 127.0.0.1:$2;
		root $1/data/root;
		location /i/ { }
	}
}
EOF
}

stop_server() {
	local pid=$1 i
	CUR_PID=""
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# cpu_ticks PID: utime+stime (clock ticks) of PID and its children (nginx
# workers). The command name in /proc/*/stat may hold spaces: cut it off.
cpu_ticks() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v p="$1" '{
		pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
		if (pid == p || f[2] == p) s += f[12] + f[13]
	} END { print s + 0 }'
}

# jget KEY FILE: a number from tusimg bench --json output.
jget() { awk -v k="\"$1\":" '$1 == k { v = $2; sub(/,$/, "", v); print v; exit }' "$2" 2>/dev/null; }

# ---- runs ----------------------------------------------------------------------
# run_one WORKLOAD SERVER PAIR DATAROOT BENCH-ARGS...: one measured run on a
# fresh server; appends workload, server, pair, metric, CPU per unit, status
# to $RAW, then the bench client's CPU per unit.
run_one() {
	local w=$1 kind=$2 pair=$3 base=$4 dir before after out rc=0 metric cpu i
	shift 4
	if [ $((SECONDS - START)) -ge "$MAX_TOTAL" ]; then
		log "MAX_TOTAL=${MAX_TOTAL}s reached: skipping $w $kind pair $pair"; return 0
	fi
	dir=$(mktemp -d "$base/run.XXXXXX")
	RUNDIRS+=("$dir")
	out=$dir/bench.json
	for i in 1 2 3; do
		start_server "$kind" "$dir" && break
		stop_server "$SRV_PID"
		[ "$i" = 3 ] || log "retrying on another port"
	done
	if [ -z "$CUR_PID" ]; then
		FAILED=$((FAILED + 1)); printf '%s\t%s\t%s\tNA\tNA\tfail\tNA\n' "$w" "$kind" "$pair" >>"$RAW"; return 0
	fi
	if [ "$kind" = tusimg ] && [[ $w == get* || $w == head* ]]; then
		bg_run "$WORK/tusimg" bench get --url "$SRV_URL" --upload-dir "$IMAGES_DIR" --count 0 --json >"$dir/prep.json" 2>&1 || rc=$?
	fi
	before=$(cpu_ticks "$SRV_PID")
	[ $rc = 0 ] && { bg_run timeout $((RUN_DURATION + 120)) "$WORK/tusimg" bench "$@" --url "$SRV_URL" \
		--duration "${RUN_DURATION}s" --json >"$out" 2>"$dir/bench.err" || rc=$?; }
	after=$(cpu_ticks "$SRV_PID")
	stop_server "$SRV_PID"
	if [ $rc != 0 ]; then
		FAILED=$((FAILED + 1))
		log "FAILED: $w on $kind (pair $pair, exit $rc): $(head -c 600 "$dir/bench.err" "$dir/prep.json" 2>/dev/null | tr '\n' ' ')"
		cp "$dir/server.log" "$WORK/failed-$w-$kind-$pair.log" 2>/dev/null || true
	fi
	# Server CPU, and the bench client's own (it shares the machine), per unit.
	read -r metric cpu ccpu < <(awk -v w="$w" -v t="$((after - before))" -v hz="$HZ" \
		-v mbps="$(jget mb_per_s "$out")" -v ops="$(jget ops_per_s "$out")" -v cl="$(jget client_cpu_s "$out")" \
		-v n="$(jget ops "$out")" -v bytes="$(jget bytes "$out")" 'BEGIN {
		cpu = t / hz
		if (w ~ /^large/) { m = mbps; u = bytes / 1073741824 }
		else if (w ~ /^small/) { m = ops; u = n / 1000 }
		else { m = ops; u = n / 1e6 }
		printf "%.4f %.4f %.4f\n", m + 0, (u > 0 ? cpu / u : 0), (u > 0 ? cl / u : 0)
	}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$kind" "$pair" "$metric" "$cpu" "$([ $rc = 0 ] && echo ok || echo fail)" "$ccpu" >>"$RAW"
	log "  $w $kind pair $pair: $metric ($(unit "$w")), server CPU $cpu, bench client CPU $ccpu $(cpu_unit "$w")"
	rm -rf -- "$dir"
}

unit() { case $1 in large*) echo MB/s ;; small*) echo uploads/s ;; *) echo req/s ;; esac; }
cpu_unit() { case $1 in large*) echo s/GiB ;; small*) echo ms/upload ;; *) echo us/req ;; esac; }

# workload NAME DATAROOT "SERVER..." BENCH-ARGS...: PAIRS rounds of the
# servers in turn.
workload() {
	local w=$1 base=$2 servers=$3 p s
	shift 3
	log "$w: $* ($PAIRS rounds of: $servers)"
	for p in $(seq 1 "$PAIRS"); do
		for s in $servers; do run_one "$w" "$s" "$p" "$base" "$@"; done
	done
}

# ---- summary -------------------------------------------------------------------
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
side() { awk -F'\t' -v w="$1" -v s="$2" -v c="$3" '$1 == w && $2 == s && $6 == "ok" { print $c }' "$RAW"; }
ratios() {
	awk -F'\t' -v w="$1" -v a="$2" -v b="$3" -v c="$4" '$1 == w && $6 == "ok" {
		if ($2 == a) A[$3] = $c; else if ($2 == b) B[$3] = $c
	} END { for (p in A) if ((p in B) && B[p] > 0) print A[p] / B[p] }' "$RAW"
}
fmt() { awk -v x="$1" 'BEGIN { if (x == "NA") print "NA"; else if (x >= 100) printf "%.0f", x; else printf "%.3g", x }'; }
ratio_fmt() { awk -v x="$1" 'BEGIN { if (x == "NA") print "NA"; else printf "%.2f", x }'; }

# row WORKLOAD A B COLUMN LABEL TARGET
row() {
	local am bm r n
	am=$(side "$1" "$2" "$4" | median)
	bm=$(side "$1" "$3" "$4" | median)
	r=$(ratios "$1" "$2" "$3" "$4" | median)
	n=$(ratios "$1" "$2" "$3" "$4" | wc -l)
	printf '| %s | %s | %s | %s | %s | **%s** | %s | %s |\n' "$5" "$2" "$3" "$(fmt "$am")" "$(fmt "$bm")" "$(ratio_fmt "$r")" "$n" "$6"
}

summary() {
	local disk_fs
	disk_fs=$(df --output=fstype "$WORK" 2>/dev/null | tail -n 1 || echo disk)
	echo "## tusimg side-by-side benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -sr); $("$WORK/tusimg" version); tusd $(tusd_version); $("$NGINX" -v 2>&1 | sed 's/.*: //')."
	echo "Pairs: $PAIRS. Large: $LARGE_SIZE in $CHUNK PATCHes, first byte to final response (tusimg: to Image-Url). Small: $SMALL_COUNT x $SMALL_SIZE ($DISK_COUNT on $disk_fs), $CONC concurrent, POST+PATCH. Serving: $GET_COUNT requests, $CONC concurrent, over $IMAGES images of $SMALL_SIZE. Upload data on $TMPFS (tmpfs) unless marked $disk_fs."
	echo "Ratio = median of per-pair A/B; for throughput higher is better for A, for CPU lower is better for A."
	echo
	echo "| workload | A | B | A median | B median | ratio A/B | pairs | target |"
	echo "|---|---|---|---:|---:|---:|---:|---|"
	row large tusimg tusd 4 "large upload, MB/s" ">= 0.9"
	row large tusimg tusd 5 "large upload, server CPU s/GiB" ""
	row large tusimg tusd 7 "large upload, bench client CPU s/GiB (same machine)" ""
	row small tusimg tusd 4 "small uploads (tmpfs), uploads/s" ">= 0.9"
	row small tusimg tusd 5 "small uploads (tmpfs), server CPU ms/upload" "<= 1.3"
	row small tusimg tusd 7 "small uploads (tmpfs), bench client CPU ms/upload" ""
	if [ "$DISK" = 1 ]; then
		row small-disk tusimg tusd 4 "small uploads ($disk_fs, durable publish), uploads/s" ""
		row small-disk tusimg tusd 5 "small uploads ($disk_fs), server CPU ms/upload" ""
	fi
	local w label
	for w in get head get-304; do
		case $w in get) label=GET ;; head) label=HEAD ;; get-304) label="GET If-None-Match (304)" ;; esac
		row "$w" tusimg fileserver 4 "$label, req/s" "$([ $w = get ] && echo '>= 1.0')"
		row "$w" tusimg fileserver 5 "$label, server CPU us/req" ""
		[ $w = get-304 ] && continue
		row "$w" tusimg nginx 4 "$label, req/s" "$([ $w = get ] && echo '>= 0.75')"
		row "$w" tusimg nginx 5 "$label, server CPU us/req" ""
	done
}

# ---- main ----------------------------------------------------------------------
build
HZ=$(getconf CLK_TCK)
printf 'workload\tserver\tpair\tmetric\tcpu\tstatus\tclient_cpu\n' >"$RAW"
SHM=$(mktemp -d "$TMPFS/tusimg-bench.XXXXXX")
DISKROOT=$(mktemp -d "$WORK/runs.XXXXXX")
RUNDIRS+=("$SHM" "$DISKROOT")
chmod 755 "$SHM" "$DISKROOT"

# wanted W: whether ONLY selects workload W.
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
wanted large && workload large "$SHM" "tusimg tusd" large --size "$LARGE_SIZE" --chunk "$CHUNK"
wanted small && workload small "$SHM" "tusimg tusd" small --count "$SMALL_COUNT" --concurrency "$CONC" --size "$SMALL_SIZE"
[ "$DISK" = 1 ] && wanted small-disk && workload small-disk "$DISKROOT" "tusimg tusd" small --count "$DISK_COUNT" --concurrency "$CONC" --size "$SMALL_SIZE"
SERVE=(--sha "@$WORK/shas.txt" --count "$GET_COUNT" --concurrency "$CONC")
wanted get && workload get "$SHM" "tusimg fileserver nginx" get "${SERVE[@]}"
wanted head && workload head "$SHM" "tusimg fileserver nginx" get "${SERVE[@]}" --head
wanted get-304 && workload get-304 "$SHM" "tusimg fileserver" get "${SERVE[@]}" --if-none-match

summary | tee "$WORK/results.md"
log "results: $WORK/results.md, every run: $RAW ($((SECONDS - START)) s)"
[ "$FAILED" = 0 ] || die "$FAILED runs failed (see above and $WORK/failed-*.log)"
