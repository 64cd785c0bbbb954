#!/bin/sh
# Stage 2 of the test VM: PID 1 on the overlay root (the host's / read-only,
# writes in guest memory). Prepares a minimal system, loads the IPsec
# modules, runs /isakmpd-vm/cmd (written by run.sh), stores its exit status
# in /isakmpd-vm/rc and powers off. Kernel command line parameters arrive as
# environment variables: isakmpd_vm_cache (the setup cache), isakmpd_vm_modules.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
umask 022

# busybox is static: each dynamically linked exec is slow under TCG
bb=$isakmpd_vm_cache/busybox/bin/busybox
tools=/run/isakmpd-vm-bin

$bb mount -t tmpfs -o mode=0755 tmpfs /run
$bb mkdir -p /run/netns /run/lock $tools /dev/pts /dev/shm /lib/modules
$bb mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
[ -e /dev/ptmx ] || $bb ln -s pts/ptmx /dev/ptmx
$bb mount -t tmpfs -o mode=1777 tmpfs /dev/shm
$bb mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null

# the guest kernel's modules, indexed by busybox depmod: busybox modutils
for tool in modprobe insmod rmmod lsmod depmod modinfo; do
	$bb ln -s "$bb" "$tools/$tool"
done
$bb mount --bind "$isakmpd_vm_cache/kernel/lib/modules" /lib/modules
echo "$tools/modprobe" >/proc/sys/kernel/modprobe
export PATH="$PATH:$tools"

$bb hostname isakmpd-vm
$bb ip link set lo up
# shellcheck disable=SC2086
$tools/modprobe -a ${isakmpd_vm_modules:-esp4 esp6 ah4 ah6 ipcomp ipcomp6 \
	xfrm4_tunnel xfrm6_tunnel xfrm_user af_key veth} \
	|| echo "isakmpd-vm: some modules did not load"

echo "isakmpd-vm: up at $($bb cut -d' ' -f1 /proc/uptime) s, kernel $($bb uname -r)"
bash /isakmpd-vm/cmd </dev/null
rc=$?
echo "$rc" >/isakmpd-vm/rc
$bb sync
echo "isakmpd-vm: command exited with $rc at $($bb cut -d' ' -f1 /proc/uptime) s"
# reboot(2) at once: the 9p root must not vanish under a still running init
$bb poweroff -f
echo o >/proc/sysrq-trigger
while :; do $bb sleep 1; done
