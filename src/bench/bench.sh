# kiln bench on the board, run as: sh -s -- ACTION ARGS...
#   tools                          which of stress-ng and iperf3 are missing
#   start NAME NET LINK            a busybox container with the board's /usr bound read-only
#                                  at /kiln-host-usr (the tools run from there, through the
#                                  board's own loader); NET veth|macvlan on LINK; prints its address
#   cpu WHERE SECONDS ARGS...      one stress-ng run (ARGS: stressor and count) on the board (WHERE=-) or in container WHERE;
#                                  prints stress-ng's YAML report
#   net WHERE SERVER PORT SECONDS  iperf3 from SERVER (the build machine) to the board or the
#                                  container: the server sends (-R); prints iperf3's JSON
#   stop NAME                      the container removed
set -u
act="$1"; shift
triplet_dir() { d=$(ls -d /usr/lib/*-linux-gnu*/libc.so.6 2>/dev/null | head -1); dirname "${d:-/usr/lib/x/libc.so.6}"; }
loader() { ls /usr/lib/ld-linux*.so.* 2>/dev/null | head -1; }
# A tool of the board's, in container $1 when given (its own root has only busybox).
tool() {
  where="$1"; shift
  if [ "$where" = - ]; then "$@"; return; fi
  bin="$1"; shift
  ld=$(loader); lib=$(triplet_dir)
  lxc-attach -n "$where" -- "/kiln-host-usr${ld#/usr}" --library-path "/kiln-host-usr${lib#/usr}" "/kiln-host-usr/bin/$bin" "$@"
}
case "$act" in
tools)
  for t in stress-ng iperf3; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
  ;;
start)
  N="$1"; NET="$2"; LINK="$3"
  # The container runs the board's tools from its /usr: a merged /usr with the loader in it.
  [ -n "$(loader)" ] || { echo "no /usr/lib/ld-linux*.so.* on the board: kiln bench runs the board's tools in the container from a merged /usr" >&2; exit 1; }
  lxc-stop -n "$N" -k >/dev/null 2>&1; lxc-destroy -n "$N" -f >/dev/null 2>&1
  out=$(lxc_busybox "$N" 2>&1) || { echo "lxc-create: $(echo "$out" | tail -1)" >&2; exit 1; }
  cfg=$(lxc-config lxc.lxcpath)/$N/config
  {
    echo "lxc.apparmor.profile = unconfined"
    echo "lxc.mount.entry = /usr kiln-host-usr none ro,bind,create=dir 0 0"
    if [ "$NET" = macvlan ]; then
      echo "lxc.net.0.type = macvlan"
      echo "lxc.net.0.macvlan.mode = bridge"
    else
      echo "lxc.net.0.type = veth"
    fi
    # Setting the type again starts the interface afresh: its flags and address too.
    echo "lxc.net.0.link = $LINK"
    echo "lxc.net.0.flags = up"
    echo "lxc.net.0.hwaddr = 00:16:3e:xx:xx:xx"
  } >> "$cfg"
  out=$(lxc-start -n "$N" -d 2>&1) || { echo "lxc-start: $(echo "$out" | tail -1)" >&2; exit 1; }
  lxc-wait -n "$N" -s RUNNING -t 20 || { echo "not RUNNING after 20 s" >&2; exit 1; }
  i=0
  while [ $i -lt 30 ]; do
    ip=$(lxc-info -n "$N" -iH 2>/dev/null | grep -v : | head -1)
    [ -n "$ip" ] && { echo "$ip"; exit 0; }
    sleep 1; i=$((i + 1))
  done
  echo "no address by DHCP after 30 s" >&2; exit 1
  ;;
cpu)
  where="$1"; secs="$2"; shift 2
  tmp=/tmp/kiln-bench.$$
  # In a container, its own /tmp (the report is read back through it).
  tool "$where" stress-ng "$@" --timeout "${secs}s" --temp-path /tmp --metrics-brief --yaml "$tmp.yaml" >/dev/null 2>"$tmp.err"
  rc=$?
  if [ "$where" = - ]; then cat "$tmp.yaml" 2>/dev/null; rm -f "$tmp.yaml"; else lxc-attach -n "$where" -- sh -c "cat $tmp.yaml; rm -f $tmp.yaml" 2>/dev/null; fi
  [ $rc = 0 ] || tail -3 "$tmp.err" >&2
  rm -f "$tmp.err"
  exit $rc
  ;;
net)
  where="$1"; server="$2"; port="$3"; secs="$4"
  # The build machine's server may still be starting: only a refused connection is tried again.
  # stderr apart, so that lxc-attach's or the loader's warnings never break the JSON on stdout.
  err=/tmp/kiln-bench.$$.err
  i=0
  while :; do
    out=$(tool "$where" iperf3 -c "$server" -p "$port" -R -t "$secs" -J 2>"$err"); rc=$?
    i=$((i + 1))
    if [ $rc = 0 ] || [ $i -ge 3 ] || ! printf '%s' "$out" | grep -q "Connection refused"; then break; fi
    sleep 1
  done
  printf '%s\n' "$out"
  tail -3 "$err" >&2; rm -f "$err"
  exit $rc
  ;;
stop)
  lxc-stop -n "$1" -k >/dev/null 2>&1; lxc-destroy -n "$1" -f >/dev/null 2>&1
  if lxc-info -n "$1" >/dev/null 2>&1; then echo "still there" >&2; exit 1; fi
  ;;
*) echo "unknown action $act" >&2; exit 2 ;;
esac
