#!/usr/bin/env bash
# Builds the base disk for real VMs under QEMU (docs/vms.md): a debootstrap'd Debian
# bookworm with systemd, DHCP on its first network interface (systemd-networkd), sshd,
# sudo, python3 (for Ansible's modules) and a `vagrant` user that Vagrant's insecure key
# logs in to, booted with the host's Debian kernel and initrd (copied beside the disk).
#   images/qemu-node/build.sh OUT_DIR [ROOTFS]
# (ROOTFS: an already debootstrap'd tree with the packages below, used in place.)
# ENVCTL_VM_PACKAGES adds packages (space-separated) and ENVCTL_VM_DISK_SIZE sets the
# disk's size (3G): the cgroup v2 suite's docker host (tests/vm_cgroup_v2.rs) is this
# disk with the Docker Engine and Ansible in it.
# OUT_DIR gets disk.qcow2, vmlinuz, initrd.img, key (the private key) and version (the
# layout this script builds: ./dev rebuilds a disk of an older one). Needs root,
# debootstrap, e2fsprogs, qemu-utils, vagrant (for the key) and a Debian kernel in /boot.
set -euo pipefail
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
keys=$(ls -d /usr/share/rubygems-integration/all/gems/vagrant-*/keys | sort -V | tail -1)
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -1)
release=${kernel#/boot/vmlinuz-}
root="${2:-$work/root}"
if [ -z "${2:-}" ]; then
    debootstrap --variant=minbase \
        --include=openssh-server,sudo,perl,python3,iproute2,systemd-sysv,udev,kmod,procps \
        bookworm "$root" http://deb.debian.org/debian >"$out/debootstrap.log" 2>&1
fi
if [ -n "${ENVCTL_VM_PACKAGES:-}" ]; then
    # apt resolves what debootstrap's --include cannot (virtual packages); services
    # are not started in the chroot.
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # shellcheck disable=SC2086 # a list of packages
    chroot "$root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $ENVCTL_VM_PACKAGES" >>"$out/debootstrap.log" 2>&1
    rm -f "$root/usr/sbin/policy-rc.d"
    rm -rf "$root/var/lib/apt/lists/"*
fi
echo envctl-vm > "$root/etc/hostname"
grep -qs ' envctl-vm$' "$root/etc/hosts" || echo '127.0.1.1 envctl-vm' >> "$root/etc/hosts"
cat > "$root/etc/systemd/network/10-dhcp.network" <<'NET'
[Match]
Name=e*
[Network]
DHCP=yes
NET
chroot "$root" systemctl enable systemd-networkd ssh >/dev/null 2>&1
chroot "$root" id -u vagrant >/dev/null 2>&1 || chroot "$root" useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$keys/vagrant.pub" "$root/home/vagrant/.ssh/authorized_keys"
echo '/dev/vda / ext4 rw 0 1' > "$root/etc/fstab"
# The kernel's modules, so udev loads drivers after the initrd hands over.
mkdir -p "$root/lib/modules"
cp -a "/lib/modules/$release" "$root/lib/modules/"
rm -rf "$root/var/cache/apt/archives/"*.deb
mkfs.ext4 -q -F -d "$root" -L envctl-root "$work/disk.raw" "${ENVCTL_VM_DISK_SIZE:-3G}"
qemu-img convert -O qcow2 "$work/disk.raw" "$out/disk.qcow2"
cp "$kernel" "$out/vmlinuz"
cp "/boot/initrd.img-$release" "$out/initrd.img"
install -m 0600 "$keys/vagrant" "$out/key"
# 2: python3 in the disk.
echo 2 > "$out/version"
echo "built $out/disk.qcow2 (kernel $release)"
