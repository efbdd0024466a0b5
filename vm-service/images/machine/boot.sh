#!/bin/sh
# Boots a drover/machine. The provider writes the SSH host key and the user's authorized key before
# start (a VM's user data); vm-service then puts the Docker TLS files in /etc/drover/docker over SSH,
# once the machine's address is known, and dockerd starts on 2376 requiring client certificates.
set -eu
d=/etc/drover
for f in ssh_host_ed25519_key authorized_keys/circleci; do
  [ -s "$d/$f" ] || { echo "drover-machine: missing $d/$f" >&2; exit 64; }
done
chmod 600 "$d/ssh_host_ed25519_key"
chmod 755 "$d/authorized_keys"
chmod 644 "$d/authorized_keys/circleci"
# The engine inside needs writable cgroups. A privileged container gets them; this one is given
# the capabilities instead (see local-provider.ts), so remount the hierarchies read-write.
mount -o remount,rw /sys 2>/dev/null || true
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
  mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
else
  for m in /sys/fs/cgroup/*; do
    [ -d "$m" ] || continue
    n=$(basename "$m")
    if [ -L "$m" ]; then continue; fi
    o=$n; [ "$n" = systemd ] && o=none,name=systemd
    umount "$m" 2>/dev/null && mount -t cgroup -o "$o" cgroup "$m" 2>/dev/null || true
  done
fi
(
  while [ ! -s "$d/docker/ready" ]; do sleep 0.2; done
  exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2376 \
    --tlsverify --tlscacert="$d/docker/ca.pem" --tlscert="$d/docker/server-cert.pem" \
    --tlskey="$d/docker/server-key.pem" >/var/log/dockerd.log 2>&1
) &
exec /usr/sbin/sshd -D -e
