# NixOS VM test: etcd-offload.service, with the module's hardening, ships a
# k3s-style etcd snapshot and its sha256 sidecar to an S3 server, and does
# not ship it again after a restart. Needs KVM and nixpkgs:
#   nix build .#checks.x86_64-linux.offload -L
# The S3 server is rclone's (`rclone serve s3`, a bucket per directory):
# nixpkgs has dropped MinIO, and offsite speaks plain S3 to either.
{ self }:
{ lib, ... }:
let
  accessKey = "offsite-test";
  secretKey = "offsite-test-secret";
  bucketDir = "/srv/s3/homelab-backup-etcd";
  snapshotDir = "/var/lib/rancher/k3s/server/db/snapshots";
  host = "cp1";
in
{
  name = "offsite-etcd-offload";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ self.nixosModules.default ];

      systemd.services.s3 = {
        description = "S3 server standing in for the MinIO on the Pi";
        wantedBy = [ "multi-user.target" ];
        before = [ "etcd-offload.service" ];
        serviceConfig.ExecStart = lib.concatStringsSep " " [
          (lib.getExe pkgs.rclone)
          "serve s3 /srv/s3"
          "--addr 127.0.0.1:9000"
          "--auth-key ${accessKey},${secretKey}"
          "--dir-cache-time 0s"
        ];
      };

      systemd.tmpfiles.rules = [
        "d ${bucketDir} 0755 root root -"
        # As k3s leaves it: root-only.
        "d ${snapshotDir} 0700 root root -"
        # Where sops-nix puts secrets: root-only files outside the store.
        "d /run/secrets 0751 root root -"
        "f+ /run/secrets/minio_etcd_access_key_id 0400 root root - ${accessKey}"
        "f+ /run/secrets/minio_etcd_secret_access_key 0400 root root - ${secretKey}"
      ];

      services.offsite.etcdOffload = {
        enable = true;
        endpoint = "http://127.0.0.1:9000";
        accessKeyIdFile = "/run/secrets/minio_etcd_access_key_id";
        secretAccessKeyFile = "/run/secrets/minio_etcd_secret_access_key";
        hostname = host;
        quietPeriod = "2s";
      };
    };

  testScript = ''
    import hashlib
    import os
    import tempfile

    name = "etcd-snapshot-${host}-1764115200"
    uploaded = "${bucketDir}/${host}/" + name

    machine.wait_for_unit("s3.service")
    machine.wait_for_open_port(9000)
    machine.wait_for_unit("etcd-offload.service")

    with subtest("a new snapshot and its sidecar are uploaded"):
        # A raw etcd snapshot: data, then the SHA-256 of that data
        # (size % 512 == 32). k3s writes it as .part and renames it.
        body = os.urandom(512 * 64)
        snapshot = body + hashlib.sha256(body).digest()
        src = os.path.join(tempfile.mkdtemp(), name)
        with open(src, "wb") as f:
            f.write(snapshot)
        machine.copy_from_host(src, "${snapshotDir}/" + name + ".part")
        machine.succeed("mv ${snapshotDir}/" + name + ".part ${snapshotDir}/" + name)

        machine.wait_until_succeeds("test -s " + uploaded + ".sha256", timeout=120)
        machine.succeed("cmp ${snapshotDir}/" + name + " " + uploaded)
        sidecar = machine.succeed("cat " + uploaded + ".sha256")
        want = hashlib.sha256(snapshot).hexdigest() + "  " + name + "\n"
        assert sidecar == want, f"sidecar {sidecar!r}, want {want!r}"
        machine.succeed("cd ${bucketDir}/${host} && sha256sum -c " + name + ".sha256")

    with subtest("the snapshot dir is left as it was"):
        listing = machine.succeed("ls -A ${snapshotDir}").split()
        assert listing == [name], f"snapshot dir holds {listing}"

    with subtest("a restart uploads nothing twice"):
        before = machine.succeed("stat -c '%i %Z' " + uploaded + " " + uploaded + ".sha256")
        machine.systemctl("restart etcd-offload.service")
        machine.wait_for_unit("etcd-offload.service")
        machine.sleep(10)
        after = machine.succeed("stat -c '%i %Z' " + uploaded + " " + uploaded + ".sha256")
        assert before == after, f"re-uploaded: {before!r} -> {after!r}"

    with subtest("the unit sees its snapshots and credentials, none of the node's secrets"):
        # /proc/<pid>/root is the file system as the unit sees it.
        pid = machine.succeed("systemctl show -p MainPID --value etcd-offload.service").strip()
        root = f"/proc/{pid}/root"
        machine.succeed(f"test -s {root}${snapshotDir}/" + name)
        machine.succeed(f"test -s {root}/run/credentials/etcd-offload.service/minio_secret_access_key")
        machine.succeed(f"test -e {root}/etc/resolv.conf")
        for path in ["/etc/shadow", "/etc/ssh", "/run/secrets", "/var/lib/nixos", "/root/.ssh"]:
            machine.fail(f"test -e {root}{path}")

    with subtest("secrets stay out of the unit and the journal"):
        machine.fail("systemctl show etcd-offload.service | grep -F ${secretKey}")
        machine.fail("journalctl -u etcd-offload.service | grep -F ${secretKey}")
        machine.succeed("systemctl show -p DynamicUser etcd-offload.service | grep -Fx DynamicUser=yes")
  '';
}
