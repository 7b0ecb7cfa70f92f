# kiln's container proof, run on the board as: sh -s -- NAME MEMORY CPUS WEIGHT PIDS
# Prints one "KILN-CHECK <id> <ok|fail> <detail>" line per step; steps whose
# verdict needs a comparison (memory, lxcfs-*) print the figures and kiln decides.
N="$1"; MEM="$2"; CPUS="$3"; WEIGHT="$4"; PIDS="$5"
say() { echo "KILN-CHECK $1 $2 $3"; }
cleanup() { lxc-stop -n "$N" -k >/dev/null 2>&1; lxc-destroy -n "$N" -f >/dev/null 2>&1; }
cleanup
if ! out=$(lxc_busybox "$N" 2>&1); then say create fail "$(echo "$out" | tail -1)"; exit 0; fi
say create ok "busybox container created"
cfg=$(lxc-config lxc.lxcpath)/$N/config
{
  echo "lxc.apparmor.profile = unconfined"
  echo "lxc.uts.name = $N"
  echo "lxc.cgroup2.memory.max = $MEM"
  echo "lxc.cgroup2.cpuset.cpus = $CPUS"
  echo "lxc.cgroup2.cpu.weight = $WEIGHT"
  echo "lxc.cgroup2.pids.max = $PIDS"
} >> "$cfg"
if ! out=$(lxc-start -n "$N" -d 2>&1); then say start fail "$(echo "$out" | tail -1)"; cleanup; exit 0; fi
if lxc-wait -n "$N" -s RUNNING -t 20; then say start ok "running"; else say start fail "not RUNNING after 20 s"; cleanup; exit 0; fi
a() { lxc-attach -n "$N" -- "$@" 2>&1 | tr -d '\r'; }
# Every figure read inside the container in one lxc-attach: each attach costs
# ~0.5 s on an emulated board, and there were ten of them.
# 2>/dev/null: a process may exit between the glob and ls.
inside=$(a sh -c 'echo "pid1=$(cat /proc/1/comm)"
echo "nproc=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)"
echo "hostname=$(hostname)"
echo "memory=$(cat /sys/fs/cgroup/memory.max)"
echo "cpuset=$(cat /sys/fs/cgroup/cpuset.cpus.effective)"
echo "meminfo-fs=$(awk '"'"'$2 == "/proc/meminfo" { print $3 }'"'"' /proc/mounts)"
echo "memtotal=$(awk '"'"'/^MemTotal:/ { print $2 }'"'"' /proc/meminfo)"
echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "weight=$(cat /sys/fs/cgroup/cpu.weight)"
echo "pids=$(cat /sys/fs/cgroup/pids.max)"')
# Read with the shell's own read: a sed per figure cost another 0.2 s each.
pid1=""; nproc_in=""; h=""; m=""; c=""; t=""; memtotal=""; cpus=""; w=""; p=""
while IFS='=' read -r k v; do
  case "$k" in
    pid1) pid1=$v ;; nproc) nproc_in=$v ;; hostname) h=$v ;; memory) m=$v ;; cpuset) c=$v ;;
    meminfo-fs) t=$v ;; memtotal) memtotal=$v ;; cpus) cpus=$v ;; weight) w=$v ;; pids) p=$v ;;
  esac
done <<EOF
$inside
EOF
# No figures at all: the attach itself failed, and its own words say why.
[ -n "$pid1" ] || pid1="no answer ($(echo "$inside" | grep -v '^[a-z0-9-]*=' | tail -1))"
nproc_host=$(ls -d /proc/[0-9]* 2>/dev/null | wc -l)
if [ "$pid1" = init ] && [ "${nproc_in:-999}" -lt "$nproc_host" ]; then say pidns ok "own PID 1 ($pid1), $nproc_in processes inside vs $nproc_host on the host"; else say pidns fail "PID 1 is '$pid1', $nproc_in processes inside vs $nproc_host on the host"; fi
if [ "$h" = "$N" ]; then say utsns ok "hostname $h"; else say utsns fail "hostname '$h', expected $N"; fi
say memory "$( [ -n "$m" ] && echo ok || echo fail )" "memory.max=$m"
say cpuset "$( [ "$c" = "$CPUS" ] && echo ok || echo fail )" "cpuset.cpus.effective=$c"
# LXCFS (seed 000): the container's /proc shows its own limits, the board's its own.
if [ ! -f /var/lib/lxcfs/proc/meminfo ]; then
  say lxcfs fail "lxcfs is not running on the board (no /var/lib/lxcfs/proc/meminfo)"
else
  if [ "$t" = fuse.lxcfs ]; then say lxcfs ok "the container's /proc/meminfo and /proc/cpuinfo come from lxcfs"; else say lxcfs fail "the container's /proc/meminfo is ${t:-the kernel's}, not lxcfs's: LXC's lxcfs hook is not in effect"; fi
fi
# MemTotal of /proc/meminfo is what procps' free shows (busybox's free asks sysinfo(2), which LXCFS cannot change).
say lxcfs-memory ok "container=$memtotal board=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
say lxcfs-cpus ok "container=$cpus board=$(grep -c ^processor /proc/cpuinfo)"
# The limits Docker and Kubernetes set (seeds 002, 003), on cgroup v2.
say cpu-weight "$( [ "$w" = "$WEIGHT" ] && echo ok || echo fail )" "cpu.weight=${w:-none} (want $WEIGHT)"
# The devices every kiln container is granted (seed 004), and one it is not: one
# attach, each answer on its own line.
devs=$(a sh -c 'l=$( ( [ -b /dev/loop0 ] || mknod /dev/loop0 b 7 0; dd if=/dev/zero of=/tmp/kiln-loop bs=1024 count=64 2>/dev/null; losetup /dev/loop0 /tmp/kiln-loop && losetup -d /dev/loop0 && echo attached; rm -f /tmp/kiln-loop ) 2>&1 | tail -1)
echo "loop=$l"
t=$( ( mkdir -p /dev/net; [ -c /dev/net/tun ] || mknod /dev/net/tun c 10 200; : <>/dev/net/tun && echo opened ) 2>&1 | tail -1)
echo "tun=$t"
d=$( ( mknod /dev/kiln-mem c 1 1 2>&1; cat /dev/kiln-mem 2>&1 | head -1 ) | tail -1)
echo "deny=$d"')
l=""; t=""; d=""; answered=""; noanswer=""
while IFS='=' read -r k v; do
  case "$k" in loop) l=$v; answered=1 ;; tun) t=$v ;; deny) d=$v ;; esac
done <<EOF
$devs
EOF
# The attach printed no answers: say what it printed instead (never a verdict from
# its words: an attach refused with "Operation not permitted" is no refused mknod).
[ -n "$answered" ] || noanswer="no answer from the container ($(echo "$devs" | tail -1))"
say dev-loop "$( [ "$l" = attached ] && echo ok || echo fail )" "$( [ "$l" = attached ] && echo "a file attached to /dev/loop0 and detached" || echo "/dev/loop0: ${l:-${noanswer:-no answer}}" )"
say dev-tun "$( [ "$t" = opened ] && echo ok || echo fail )" "$( [ "$t" = opened ] && echo "/dev/net/tun opened" || echo "/dev/net/tun: ${t:-${noanswer:-no answer}}" )"
case "$d" in *"not permitted"*) say dev-deny ok "c 1:1 (/dev/mem, not in the list) refused: $d" ;; *) say dev-deny fail "c 1:1 (/dev/mem) was not refused: ${noanswer:-${d:-opened}}" ;; esac
# Debian's minimal root has no ping of its own; busybox has one.
PING=ping; command -v ping >/dev/null 2>&1 || PING="busybox ping"
# One echo, and a second only if the first got no answer (a lost first packet
# while ARP resolves): two in a row cost a second each time.
reach() { $PING -c 1 -W 2 "$1" >/dev/null 2>&1 || $PING -c 1 -W 2 "$1" >/dev/null 2>&1; }
if grep -qs '^lxc.net.0.type *= *macvlan' "$cfg" /etc/lxc/default.conf; then
  # macvlan (seed 004's wire-speed variant): the board cannot reach a macvlan child
  # through the parent itself, only through a macvlan of its own on the same parent.
  # Link-local addresses on both ends: nothing on the board's LAN sees them.
  link=$(sed -n 's/^lxc.net.0.link *= *//p' "$cfg" | tail -1)
  a ip addr add 169.254.77.77/16 dev eth0 >/dev/null
  ip link del kiln-shim >/dev/null 2>&1
  if ip link add kiln-shim link "${link:-eth0}" type macvlan mode bridge && ip addr add 169.254.77.78/16 dev kiln-shim && ip link set kiln-shim up; then
    if reach 169.254.77.77; then say bridge ok "reached the container (macvlan on ${link:-eth0}) from a macvlan of the board's"; else say bridge fail "no answer from the container (macvlan on ${link:-eth0})"; fi
  else
    say bridge fail "cannot add a macvlan on ${link:-eth0} to reach the container"
  fi
  ip link del kiln-shim >/dev/null 2>&1
else
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
  if reach "$ip"; then say bridge ok "reached $ip over br0"; else say bridge fail "no answer from $ip over br0"; fi
fi
# Last, as nothing in the container can start while the loop's children hold
# every PID, and the cleanup's lxc-stop -k ends them instead of a wait.
if [ "$p" != "$PIDS" ]; then
  say pids fail "pids.max=${p:-none} (want $PIDS)"
else
  # A fork loop bounded in count (twice the limit) and time (each child sleeps
  # 2 s, its output not on the pipe, which so ends with the loop); it prints how
  # many children it got, and the shell gives up at the first refused fork.
  got=$(a sh -c "i=0; while [ \$i -lt $((PIDS * 2)) ]; do sleep 2 >/dev/null 2>&1 & i=\$((i + 1)); echo \$i; done" | grep -E "^[0-9]+$" | tail -1)
  ev=$(lxc-cgroup -n "$N" pids.events 2>/dev/null | awk '$1 == "max" { print $2 }')
  if [ "${ev:-0}" -gt 0 ] && [ "${got:-0}" -lt "$PIDS" ] && cat /proc/uptime >/dev/null; then
    say pids ok "pids.max=$p: a fork loop got ${got:-0} children, then a fork was refused (pids.events max $ev); the board answers"
  else
    say pids fail "pids.max=$p, but the fork loop got ${got:-0} children of $((PIDS * 2)) and ${ev:-no} forks were refused"
  fi
fi
cleanup
say cleanup ok "container removed"
