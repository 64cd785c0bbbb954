#!/bin/busybox sh
# Stage 1 of the test VM: /init of the initramfs that tools/vm/setup.sh builds.
#
# Mounts the host's / (9p tag "hostroot", exported read-only) under an overlay
# whose upper layer is a tmpfs, so the guest may write anywhere and every
# write stays in guest memory. The run folder (9p tag "vmout", the one
# writable share) goes to /isakmpd-vm. Then stage 2, a script on the host's
# file system named by isakmpd_vm_stage2= on the kernel command line, takes
# over as PID 1.
/bin/busybox --install -s /bin
export PATH=/bin

give_up() {
	echo "isakmpd-vm stage 1: $*"
	poweroff -f
	sleep 5
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe "$m" || give_up "cannot load $m"
done

p9="trans=virtio,version=9p2000.L,msize=524288"
mkdir -p /host /mem /newroot
tries=0
# the virtio device may show up a moment after its driver is loaded
until mount -t 9p -o "$p9,ro,cache=loose" hostroot /host 2>/dev/null; do
	tries=$((tries + 1))
	[ $tries -lt 100 ] || give_up "no 9p share 'hostroot'"
	sleep 0.05
done
mount -t tmpfs -o mode=0755 tmpfs /mem
mkdir -p /mem/upper /mem/work
mount -t overlay -o lowerdir=/host,upperdir=/mem/upper,workdir=/mem/work \
	overlay /newroot || give_up "cannot mount the overlay root"
mkdir -p /newroot/isakmpd-vm
mount -t 9p -o "$p9,rw" vmout /newroot/isakmpd-vm || give_up "no 9p share 'vmout'"

for fs in proc sys dev; do
	mount --move "/$fs" "/newroot/$fs"
done
[ -n "$isakmpd_vm_stage2" ] && [ -x "/newroot$isakmpd_vm_stage2" ] \
	|| give_up "stage 2 '$isakmpd_vm_stage2' not found"
exec switch_root /newroot "$isakmpd_vm_stage2"
