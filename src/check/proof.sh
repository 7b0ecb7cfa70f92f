# kiln's container proof, run on the board as: sh -s -- NAME MEMORY CPUS
# Prints one "KILN-CHECK <id> <ok|fail> <detail>" line per step.
N="$1"; MEM="$2"; CPUS="$3"
say() { echo "KILN-CHECK $1 $2 $3"; }
cleanup() { lxc-stop -n "$N" -k >/dev/null 2>&1; lxc-destroy -n "$N" -f >/dev/null 2>&1; }
cleanup
if ! out=$(lxc-create -n "$N" -t busybox 2>&1); then say create fail "$(echo "$out" | tail -1)"; exit 0; fi
say create ok "busybox container created"
cfg=$(lxc-config lxc.lxcpath)/$N/config
{
  echo "lxc.apparmor.profile = unconfined"
  echo "lxc.uts.name = $N"
  echo "lxc.cgroup2.memory.max = $MEM"
  echo "lxc.cgroup2.cpuset.cpus = $CPUS"
} >> "$cfg"
if ! out=$(lxc-start -n "$N" -d 2>&1); then say start fail "$(echo "$out" | tail -1)"; cleanup; exit 0; fi
if lxc-wait -n "$N" -s RUNNING -t 20; then say start ok "running"; else say start fail "not RUNNING after 20 s"; cleanup; exit 0; fi
a() { lxc-attach -n "$N" -- "$@" 2>&1 | tr -d '\r'; }
pid1=$(a cat /proc/1/comm)
# 2>/dev/null: a process may exit between the glob and ls.
nproc_in=$(a sh -c 'ls -d /proc/[0-9]* 2>/dev/null | wc -l' | tr -d ' ')
nproc_host=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
if [ "$pid1" = init ] && [ "${nproc_in:-999}" -lt "$nproc_host" ]; then say pidns ok "own PID 1 ($pid1), $nproc_in processes inside vs $nproc_host on the host"; else say pidns fail "PID 1 is '$pid1', $nproc_in processes inside vs $nproc_host on the host"; fi
h=$(a hostname)
if [ "$h" = "$N" ]; then say utsns ok "hostname $h"; else say utsns fail "hostname '$h', expected $N"; fi
m=$(a cat /sys/fs/cgroup/memory.max)
say memory "$( [ -n "$m" ] && echo ok || echo fail )" "memory.max=$m"
c=$(a cat /sys/fs/cgroup/cpuset.cpus.effective)
say cpuset "$( [ "$c" = "$CPUS" ] && echo ok || echo fail )" "cpuset.cpus.effective=$c"
ip=""
i=0
while [ $i -lt 15 ]; do
  ip=$(lxc-info -n "$N" -iH 2>/dev/null | grep -v : | head -1)
  [ -n "$ip" ] && break
  sleep 1; i=$((i + 1))
done
if [ -z "$ip" ]; then
  ip=10.0.2.77
  a ip addr add "$ip/24" dev eth0 >/dev/null
fi
# Debian's minimal root has no ping of its own; busybox has one.
PING=ping; command -v ping >/dev/null 2>&1 || PING="busybox ping"
if $PING -c 2 -W 2 "$ip" >/dev/null 2>&1; then say bridge ok "reached $ip over br0"; else say bridge fail "no answer from $ip over br0"; fi
cleanup
say cleanup ok "container removed"
