/**
 * A small kernel tree in the style of the vendor's 3.0.6 (seed 004): only the
 * old symbol names exist (CGROUP_MEM_RES_CTLR, RESOURCE_COUNTERS,
 * DEVPTS_MULTIPLE_INSTANCES, CFQ), there is no merge_config.sh and no
 * olddefconfig. Its Makefile runs the kconfig `conf` program built from a real
 * tree, standing in for 3.0's own kbuild, which does not build with gcc 12.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const files: Record<string, string> = {
  Makefile: `VERSION = 3
PATCHLEVEL = 0
SUBLEVEL = 6
EXTRAVERSION =
srctree := $(CURDIR)
obj := $(if $(O),$(O),$(CURDIR))
export SRCARCH := $(ARCH)
CONF = cd $(obj) && srctree=$(srctree) KCONFIG_CONFIG=.config $(KILN_TEST_CONF)
%_defconfig:
\t$(CONF) --defconfig=$(srctree)/arch/$(ARCH)/configs/$@ $(srctree)/Kconfig
oldconfig:
\t$(CONF) --oldconfig $(srctree)/Kconfig
`,
  Kconfig: `mainmenu "Linux/$(SRCARCH) 3.0.6 Kernel Configuration"
source "arch/$(SRCARCH)/Kconfig"
source "init/Kconfig"
source "block/Kconfig"
source "net/Kconfig"
source "drivers/Kconfig"
source "fs/Kconfig"
`,
  "arch/arm/Kconfig": `config ARM
\tdef_bool y
config MMU
\tdef_bool y
config SMP
\tbool "Symmetric Multi-Processing"
config SWAP
\tbool "Support for paging of anonymous memory (swap)"
\tdefault y
config MODULES
\tbool "Enable loadable module support"
\tmodules
`,
  "init/Kconfig": `config EPOLL
\tbool "Enable eventpoll support"
\tdefault y
config SYSVIPC
\tbool "System V IPC"
config POSIX_MQUEUE
\tbool "POSIX Message Queues"
\tdepends on NET
config IKCONFIG
\ttristate "Kernel .config support"
config IKCONFIG_PROC
\tbool "Enable access to .config through /proc/config.gz"
\tdepends on IKCONFIG && PROC_FS
config PROC_FS
\tdef_bool y
config BLK_DEV_INITRD
\tbool "Initial RAM filesystem and RAM disk (initramfs/initrd) support"
if BLK_DEV_INITRD
config RD_GZIP
\tbool "Support initial ramdisks compressed using gzip"
\tdefault y
config RD_LZMA
\tbool "Support initial ramdisks compressed using LZMA"
endif
config PERF_EVENTS
\tbool "Kernel performance events and counters"
menuconfig CGROUPS
\tbool "Control Group support"
if CGROUPS
config CGROUP_FREEZER
\tbool "Freezer cgroup subsystem"
config CGROUP_DEVICE
\tbool "Device controller for cgroups"
config CPUSETS
\tbool "Cpuset support"
\tdepends on SMP
config PROC_PID_CPUSET
\tbool "Include legacy /proc/<pid>/cpuset file"
\tdepends on CPUSETS
\tdefault y
config CGROUP_CPUACCT
\tbool "Simple CPU accounting cgroup subsystem"
config RESOURCE_COUNTERS
\tbool "Resource counters"
config CGROUP_MEM_RES_CTLR
\tbool "Memory Resource Controller for Control Groups"
\tdepends on RESOURCE_COUNTERS
\tselect MM_OWNER
config CGROUP_MEM_RES_CTLR_SWAP
\tbool "Memory Resource Controller Swap Extension"
\tdepends on CGROUP_MEM_RES_CTLR && SWAP
config CGROUP_MEM_RES_CTLR_SWAP_ENABLED
\tbool "Memory Resource Controller Swap Extension enabled by default"
\tdepends on CGROUP_MEM_RES_CTLR_SWAP
\tdefault y
config CGROUP_PERF
\tbool "Enable perf_event per-cpu per-container group (cgroup) monitoring"
\tdepends on PERF_EVENTS && CGROUPS
menuconfig CGROUP_SCHED
\tbool "Group CPU scheduler"
if CGROUP_SCHED
config FAIR_GROUP_SCHED
\tbool "Group scheduling for SCHED_OTHER"
\tdefault CGROUP_SCHED
config RT_GROUP_SCHED
\tbool "Group scheduling for SCHED_RR/FIFO"
endif
config BLK_CGROUP
\ttristate "Block IO controller"
\tdepends on BLOCK
endif
config MM_OWNER
\tbool
menuconfig NAMESPACES
\tbool "Namespaces support"
if NAMESPACES
config UTS_NS
\tbool "UTS namespace"
\tdefault y
config IPC_NS
\tbool "IPC namespace"
\tdepends on (SYSVIPC || POSIX_MQUEUE)
\tdefault y
config USER_NS
\tbool "User namespace (EXPERIMENTAL)"
config PID_NS
\tbool "PID Namespaces"
\tdefault y
config NET_NS
\tbool "Network namespace"
\tdepends on NET
\tdefault y
endif
`,
  "block/Kconfig": `menuconfig BLOCK
\tbool "Enable the block layer"
\tdefault y
if BLOCK
config IOSCHED_NOOP
\tbool
\tdefault y
config IOSCHED_DEADLINE
\ttristate "Deadline I/O scheduler"
\tdefault y
config IOSCHED_CFQ
\ttristate "CFQ I/O scheduler"
\tdefault y
choice
\tprompt "Default I/O scheduler"
\tdefault DEFAULT_CFQ
config DEFAULT_DEADLINE
\tbool "Deadline" if IOSCHED_DEADLINE=y
config DEFAULT_CFQ
\tbool "CFQ" if IOSCHED_CFQ=y
config DEFAULT_NOOP
\tbool "No-op"
endchoice
config DEFAULT_IOSCHED
\tstring
\tdefault "deadline" if DEFAULT_DEADLINE
\tdefault "cfq" if DEFAULT_CFQ
\tdefault "noop" if DEFAULT_NOOP
endif
`,
  "net/Kconfig": `menuconfig NET
\tbool "Networking support"
if NET
config UNIX
\ttristate "Unix domain sockets"
config BRIDGE
\ttristate "802.1d Ethernet Bridging"
config VLAN_8021Q
\ttristate "802.1Q VLAN Support"
menuconfig NET_SCHED
\tbool "QoS and/or fair queueing"
if NET_SCHED
config NET_CLS
\tbool
config NET_CLS_CGROUP
\ttristate "Control Group Classifier"
\tselect NET_CLS
\tdepends on CGROUPS
endif
endif
`,
  "drivers/Kconfig": `menuconfig NETDEVICES
\tdefault y if UML
\tdepends on NET
\tbool "Network device support"
if NETDEVICES
config MACVLAN
\ttristate "MAC-VLAN support (EXPERIMENTAL)"
config VETH
\ttristate "Virtual ethernet pair device"
endif
config UNIX98_PTYS
\tbool "Unix98 PTY support"
\tdefault y
config DEVPTS_MULTIPLE_INSTANCES
\tbool "Support multiple instances of devpts"
\tdepends on UNIX98_PTYS
menuconfig MTD
\ttristate "Memory Technology Device (MTD) support"
if MTD
config MTD_CFI
\ttristate "Detect flash chips by Common Flash Interface (CFI) probe"
config MTD_CFI_INTELEXT
\ttristate "Support for Intel/Sharp flash chips"
\tdepends on MTD_CFI
config MTD_CFI_AMDSTD
\ttristate "Support for AMD/Fujitsu/Spansion flash chips"
\tdepends on MTD_CFI
endif
`,
  "fs/Kconfig": `config FUSE_FS
\ttristate "FUSE (Filesystem in Userspace) support"
`,
  "arch/arm/configs/obsax3_defconfig": `CONFIG_SMP=y
CONFIG_MODULES=y
CONFIG_CGROUPS=y
CONFIG_CGROUP_SCHED=y
CONFIG_FAIR_GROUP_SCHED=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_NET=y
CONFIG_NETDEVICES=y
CONFIG_IOSCHED_CFQ=y
CONFIG_DEFAULT_CFQ=y
`,
};

/** Write the tree under `root` and return its path. */
export function writeOldTree(root: string, overrides: Record<string, string> = {}): string {
  for (const [path, text] of Object.entries({ ...files, ...overrides })) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}
