/**
 * The boot script a cloud machine runs (EC2 user data, GCE `startup-script`): installs the
 * machine's own SSH host key and the job's login key, then waits for vm-service to put the Docker
 * TLS files in /etc/drover/docker over SSH and restarts Docker listening on 2376 with
 * `--tlsverify`. It assumes the image has OpenSSH, Docker and systemd, as CircleCI's machine
 * images do.
 */
import { RERUN_SSH_PORT, type MachineBoot } from "./types.js";

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export function cloudUserData(boot: MachineBoot): string {
  const user = boot.sshUser;
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`bad ssh user name ${user}`);
  return `#!/bin/bash
# drover vm-service machine boot
set -euo pipefail
install -d -m 755 /etc/drover /etc/drover/authorized_keys
install -d -m 700 /etc/drover/docker
id -u ${user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${user}
usermod --password '*' --append --groups docker ${user} 2>/dev/null || usermod --password '*' ${user}
echo '${user} ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/drover-${user}
printf '%s\\n' ${quote(boot.hostKey.trim())} >/etc/drover/ssh_host_ed25519_key
chmod 600 /etc/drover/ssh_host_ed25519_key
printf '%s\\n' ${quote(boot.authorizedKey.trim())} >/etc/drover/authorized_keys/${user}
chmod 644 /etc/drover/authorized_keys/${user}
cat >/etc/ssh/sshd_config.d/00-drover.conf <<'CONF'
Port 22
Port ${RERUN_SSH_PORT}
HostKey /etc/drover/ssh_host_ed25519_key
AuthorizedKeysFile /etc/drover/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
CONF
# Rerun with SSH: only the keys the agent writes for the user who asked, no forwarding (a Match
# block, so at the end of the main file).
install -d -m 755 /etc/drover/rerun_keys
cat >>/etc/ssh/sshd_config <<'CONF'
Match LocalPort ${RERUN_SSH_PORT}
    AuthorizedKeysFile /etc/drover/rerun_keys/%u
    AllowTcpForwarding no
    X11Forwarding no
CONF
systemctl restart ssh 2>/dev/null || systemctl restart sshd
(
  while [ ! -s /etc/drover/docker/ready ]; do sleep 1; done
  install -d /etc/systemd/system/docker.service.d
  cat >/etc/systemd/system/docker.service.d/drover.conf <<'CONF'
[Service]
ExecStart=
ExecStart=/usr/bin/dockerd --host=fd:// --host=tcp://0.0.0.0:2376 --tlsverify --tlscacert=/etc/drover/docker/ca.pem --tlscert=/etc/drover/docker/server-cert.pem --tlskey=/etc/drover/docker/server-key.pem
CONF
  systemctl daemon-reload
  systemctl restart docker
) >/var/log/drover-docker-tls.log 2>&1 &
`;
}
