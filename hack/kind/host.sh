# shellcheck shell=bash
# What this host cannot do that kind asks of it; source it. Sets:
#   unprivileged  the capabilities missing from the bounding set, comma-separated (empty: none);
#                 `docker run --privileged` asks for every capability, so nodes cannot be privileged
#   cgroup_v1     non-empty when the host has cgroup v1
# and exports KIND_EXPERIMENTAL_UNPRIVILEGED_NODES for the patched kind (kind-unprivileged.patch),
# which every kind command needs: they all `docker exec` into the nodes.
capabilities=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
  SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
  SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
  WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)
# Bit N of CapBnd is capability N.
bounding=$((16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
missing=()
for i in "${!capabilities[@]}"; do
  (((bounding >> i) & 1)) || missing+=("${capabilities[$i]}")
done
unprivileged=$(IFS=,; echo "${missing[*]}")
export KIND_EXPERIMENTAL_UNPRIVILEGED_NODES=$unprivileged
cgroup_v1=
# shellcheck disable=SC2034  # read by the scripts that source this
[ -f /sys/fs/cgroup/cgroup.controllers ] || cgroup_v1=yes
