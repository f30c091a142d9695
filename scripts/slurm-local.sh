#!/usr/bin/env bash
# Single-node Slurm cluster on localhost, for running kasane's exported
# Snakemake workflows through snakemake-executor-plugin-slurm exactly as on
# a real cluster (sbatch + srun + sacct), e.g. in CI or on a laptop.
#
#   scripts/slurm-local.sh up                       install + configure + start, wait for idle node
#   scripts/slurm-local.sh run WORKFLOW_DIR [args]  snakemake --executor slurm in WORKFLOW_DIR
#   scripts/slurm-local.sh status                   sinfo/squeue/sacct
#   scripts/slurm-local.sh down                     stop all daemons started by `up`
#
# Needs root and Debian/Ubuntu (apt). Works without systemd/cgroups (containers).
#
# Accounting choice: the slurm executor plugin (2.x) polls job state with
#   sacct -X --parsable2 --clusters all --noheader --format=JobIdRaw,State --name <run-uuid>
# and picks sacct whenever the `sacct` binary exists (which slurm-client always
# ships). Without slurmdbd, sacct only errors out ("accounting storage is
# disabled"), so status checks would fail. The squeue fallback works only with
# a large MinJobAge and an explicit `slurm-status-command: squeue`, and the
# plugin also asks sacct/sacctmgr for the default account. So we run slurmdbd on
# a local MariaDB: the plugin then sees what it sees on a real cluster.
#
# Environment knobs:
#   SLURM_LOCAL_CPUS     CPUs advertised for the node (default: nproc). May exceed
#                        the real count to oversubscribe small machines.
#   SLURM_LOCAL_MEM_MB   RealMemory for the node (default: total minus 15%, min 512 MiB headroom)
#   SLURM_LOCAL_JOBS     --jobs passed to snakemake (default: 2 * CPUs)
#   SLURM_LOCAL_VENV     venv used if snakemake/plugin are not importable (default /opt/kasane-smk)
#   SLURM_LOCAL_PROFILE  profile dir used when WORKFLOW_DIR has no profiles/slurm
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER=kasane
ACCOUNT=local
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm
RUN_DIR=/run/slurm
DB_NAME=slurm_acct_db
DB_USER=slurm
DB_PASS_FILE=/etc/slurm/.dbpass
VENV="${SLURM_LOCAL_VENV:-/opt/kasane-smk}"
PROFILE_TEMPLATE="${SLURM_LOCAL_PROFILE:-$here/slurm-profile}"

log() { printf '[slurm-local] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# wait_for SECONDS DESCRIPTION CMD... ; slow on loaded machines, so be generous
wait_for() {
  local secs="$1" what="$2"; shift 2
  local i
  for ((i = 0; i < secs; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "timed out after ${secs}s waiting for $what"
}

# a zombie (reparented to a non-reaping container init) counts as dead
proc_alive() { [[ -r /proc/$1/stat ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
pid_alive() { local p; p=$(cat "$1" 2>/dev/null) && [[ -n "$p" ]] && proc_alive "$p"; }

install_pkgs() {
  local need=()
  local p
  for p in slurmctld slurmd slurmdbd slurm-client munge mariadb-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    # policy-rc.d in containers refuses to start services; we start them ourselves
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

have_snakemake() {
  command -v snakemake >/dev/null 2>&1 &&
    python3 -c 'import snakemake_executor_plugin_slurm' >/dev/null 2>&1
}

# Reuse an existing snakemake + plugin if present, else a private venv, so
# we don't fight the system Python's packages.
ensure_snakemake() {
  if [[ -x "$VENV/bin/snakemake" ]]; then
    export PATH="$VENV/bin:$PATH"
  fi
  have_snakemake && return 0
  log "installing snakemake + snakemake-executor-plugin-slurm into $VENV"
  python3 -m venv "$VENV" 2>/dev/null || {
    apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$VENV"
  }
  "$VENV/bin/pip" install -q snakemake snakemake-executor-plugin-slurm
  export PATH="$VENV/bin:$PATH"
  have_snakemake || die "snakemake or its slurm plugin still not importable"
}

node_cpus() { echo "${SLURM_LOCAL_CPUS:-$(nproc)}"; }

node_mem() {
  if [[ -n "${SLURM_LOCAL_MEM_MB:-}" ]]; then echo "$SLURM_LOCAL_MEM_MB"; return; fi
  local total head
  total=$(free -m | awk '/^Mem:/ {print $2}')
  head=$((total * 15 / 100))
  ((head < 512)) && head=512
  echo $((total - head))
}

write_configs() {
  local cpus mem
  cpus=$(node_cpus)
  mem=$(node_mem)
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd" "$RUN_DIR"
  chown slurm:slurm "$LOG_DIR" "$STATE_DIR" "$STATE_DIR/slurmctld" "$RUN_DIR"

  # NodeName=localhost needs `slurmd -N localhost` (hostname may differ).
  # config_overrides: trust the CPUs/RealMemory below instead of draining
  # the node when slurmd detects a different topology (containers, oversubscription).
  # CR_CPU_Memory + DefMemPerCPU: many small jobs share the node; without a
  # default memory a job would claim the whole node's RAM and run alone.
  cat >"$CONF_DIR/slurm.conf" <<EOF
# generated by scripts/slurm-local.sh
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=512
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
SlurmctldTimeout=120
SlurmdTimeout=300
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

  [[ -s "$DB_PASS_FILE" ]] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DB_PASS_FILE"; }
  chmod 600 "$DB_PASS_FILE"
  # slurmdbd refuses a config readable by others or not owned by SlurmUser
  cat >"$CONF_DIR/slurmdbd.conf" <<EOF
# generated by scripts/slurm-local.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
DebugLevel=info
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$RUN_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=$DB_USER
StoragePass=$(cat "$DB_PASS_FILE")
StorageLoc=$DB_NAME
EOF
  chown slurm:slurm "$CONF_DIR/slurmdbd.conf"
  chmod 600 "$CONF_DIR/slurmdbd.conf"
}

start_munge() {
  if [[ ! -s /etc/munge/munge.key ]]; then
    log "generating munge key"
    if command -v mungekey >/dev/null; then mungekey --create --force; else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge
  chown munge:munge /run/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
    wait_for 30 munged sh -c 'munge -n | unmunge'
  fi
}

start_mariadb() {
  if ! mysqladmin ping >/dev/null 2>&1; then
    log "starting mariadb"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    # mysqld_safe daemonizes a watchdog; no init system needed
    # mysqld_safe stays in the foreground: detach it fully (own session, no
    # inherited stdout) or callers piping our output would never see EOF
    (cd / && setsid -f mysqld_safe </dev/null >>"$LOG_DIR/mariadb-safe.log" 2>&1)
    wait_for 120 mariadb mysqladmin ping
  fi
  # root talks to MariaDB over the unix socket (unix_socket auth, Debian default)
  mysql -u root <<EOF
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$(cat "$DB_PASS_FILE")';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$(cat "$DB_PASS_FILE")';
GRANT ALL ON $DB_NAME.* TO '$DB_USER'@'localhost';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
  if ! pid_alive "$RUN_DIR/slurmdbd.pid"; then
    log "starting slurmdbd"
    /usr/sbin/slurmdbd
  fi
  # first start creates the tables, which is slow under load
  wait_for 180 slurmdbd sacctmgr -n list cluster
}

register_accounting() {
  # slurmctld registers the cluster itself, but only if it exists in the db
  # when it connects; adding it first avoids a restart.
  sacctmgr -n list cluster format=cluster%40 | grep -qw "$CLUSTER" ||
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  sacctmgr -n list account format=account%40 | grep -qw "$ACCOUNT" ||
    sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" description=kasane-local organization=kasane >/dev/null
  # give root and the invoking user a default account, so the plugin's
  # account auto-detection / validation finds one
  local u
  for u in root ${SUDO_USER:-}; do
    sacctmgr -n list user format=user%40 | grep -qw "$u" ||
      sacctmgr -i add user "$u" account="$ACCOUNT" defaultaccount="$ACCOUNT" >/dev/null
  done
}

node_idle() { sinfo -h -n localhost -o '%T' | grep -Eq '^(idle|mixed|allocated)'; }

start_slurm() {
  if ! pid_alive "$RUN_DIR/slurmctld.pid"; then
    log "starting slurmctld"
    runuser -u slurm -- /usr/sbin/slurmctld
  fi
  wait_for 120 slurmctld scontrol ping
  if ! pid_alive "$RUN_DIR/slurmd.pid"; then
    log "starting slurmd"
    /usr/sbin/slurmd -N localhost
  fi
  local i
  for ((i = 0; i < 120; i++)); do node_idle && break; sleep 1; done
  # a node left DOWN/DRAIN from an earlier run (e.g. killed slurmd) comes back here
  if ! node_idle; then
    scontrol update nodename=localhost state=resume || true
    wait_for 60 "node localhost idle" node_idle
  fi
}

cmd_up() {
  [[ $(id -u) -eq 0 ]] || die "run as root"
  install_pkgs
  ensure_snakemake
  write_configs
  start_munge
  start_mariadb
  start_slurmdbd
  register_accounting
  start_slurm
  sinfo
  log "up: slurm $(sinfo --version | awk '{print $2}'), snakemake $(snakemake --version)"
}

stop_pidfile() {
  local name="$1" pidf="$2" pid i
  # read the pid once: daemons delete their pidfile while exiting
  pid=$(cat "$pidf" 2>/dev/null) || return 0
  [[ -n "$pid" ]] && proc_alive "$pid" || return 0
  log "stopping $name"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do proc_alive "$pid" || return 0; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_down() {
  # cancel leftovers first so slurmd does not come back to orphaned steps
  if scontrol ping >/dev/null 2>&1; then scancel --user="$(id -un)" 2>/dev/null || true; fi
  stop_pidfile slurmd "$RUN_DIR/slurmd.pid"
  stop_pidfile slurmctld "$RUN_DIR/slurmctld.pid"
  stop_pidfile slurmdbd "$RUN_DIR/slurmdbd.pid"
  if mysqladmin ping >/dev/null 2>&1; then
    log "stopping mariadb"
    mysqladmin shutdown || true
  fi
  stop_pidfile munged /run/munge/munged.pid
  log "down"
}

cmd_status() {
  sinfo || true
  squeue || true
  sacct -X --starttime now-1days -o JobID,JobName%40,Partition,AllocCPUS,ReqMem,State,ExitCode,Elapsed || true
}

cmd_run() {
  [[ $# -ge 1 ]] || die "usage: $0 run WORKFLOW_DIR [snakemake args...]"
  local wf="$1"; shift
  [[ -d "$wf" ]] || die "no such workflow dir: $wf"
  ensure_snakemake
  node_idle || die "cluster not up (run: $0 up)"
  local profile
  profile="$(cd "$wf" && pwd)/profiles/slurm"
  [[ -f "$profile/config.yaml" || -f "$profile/profile.yaml" ]] || profile="$PROFILE_TEMPLATE"
  local jobs="${SLURM_LOCAL_JOBS:-$(($(node_cpus) * 2))}"
  local start rc=0
  start=$(date +%Y-%m-%dT%H:%M:%S)
  log "snakemake --executor slurm --profile $profile --jobs $jobs $* (in $wf)"
  (cd "$wf" && snakemake --executor slurm --profile "$profile" --jobs "$jobs" "$@") || rc=$?
  echo "---- sacct (jobs since $start) ----"
  sacct -X --starttime "$start" -o JobID,JobName%38,Partition,Account,AllocCPUS,ReqMem,State,ExitCode,Elapsed || true
  echo "---- squeue ----"
  squeue || true
  ((rc == 0)) || log "snakemake failed with exit code $rc"
  return "$rc"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    run) cmd_run "$@" ;;
    status) cmd_status "$@" ;;
    *) echo "usage: $0 {up|run WORKFLOW_DIR [snakemake args...]|status|down}" >&2; exit 2 ;;
  esac
}

main "$@"
