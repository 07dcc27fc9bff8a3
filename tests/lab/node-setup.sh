#!/bin/sh
# Runs inside the debootstrapped root (chroot) to turn it into a lab node image.
# Every change here is part of the image recipe hash: edit it and the image is rebuilt.
set -eu
export DEBIAN_FRONTEND=noninteractive

# A node must boot like a real server would: systemd as PID 1, sshd listening,
# every firewall installed but none enabled (faults enable one on purpose).
systemctl enable ssh.service systemd-networkd.service >/dev/null 2>&1 || true
systemctl disable firewalld.service nftables.service ufw.service >/dev/null 2>&1 || true
systemctl mask getty@tty1.service console-getty.service serial-getty@ttyS0.service \
    systemd-resolved.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_reap.service >/dev/null 2>&1 || true
# podman sets the hostname and /etc/hosts; networkd must not touch eth0 (podman configured it).
rm -f /etc/systemd/network/*.network
# sshd: key auth for root only.
mkdir -p /root/.ssh && chmod 700 /root/.ssh
cat > /etc/ssh/sshd_config.d/podnet-lab.conf <<'CONF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
CONF
# Host keys are generated per node on first boot, never baked into the image.
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/podnet-lab-hostkeys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys for a lab node
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable podnet-lab-hostkeys.service >/dev/null 2>&1
# Same path the kernel's built-in modules are looked up at; see lab README.
echo 'root:*' | chpasswd -e
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
