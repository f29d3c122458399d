# Evaluates nix/module.nix with the stand-in lib and NixOS, for nix/check.sh:
#   nix-instantiate --eval --strict --json nix/check/module.nix \
#     --argstr package /dir/with/bin/offsite -A units
# `package` is a directory holding bin/offsite, so that
# `systemd-analyze verify` finds the ExecStart binary.
{
  package ? "/nonexistent",
}:
let
  lib = import ./nixpkgs/lib.nix;
  nixos = import ./nixpkgs/nixos.nix { inherit lib; };

  offsite = {
    type = "derivation";
    name = "offsite";
    outPath = package;
    meta.mainProgram = "offsite";
  };

  # What a user writes: sops-nix secrets, the defaults for the rest.
  settings = {
    enable = true;
    endpoint = "http://10.10.10.209:9000";
    accessKeyIdFile = "/run/secrets/minio_etcd_access_key_id";
    secretAccessKeyFile = "/run/secrets/minio_etcd_secret_access_key";
  };

  eval =
    s:
    nixos.eval {
      modules = [
        ../module.nix
        { services.offsite.etcdOffload = s; }
      ];
      pkgs = { inherit offsite; };
    };
in
{
  # Unit files by name, per mode.
  units = {
    watch = (eval settings).units;
    timer = (eval (settings // { mode = "timer"; })).units;
    disabled = (eval { }).units;
  };

  # Messages of failed assertions, per broken setting.
  failures = lib.mapAttrs (_: s: (eval s).failedAssertions) {
    noEndpoint = removeAttrs settings [ "endpoint" ];
    noCredentials = removeAttrs settings [
      "accessKeyIdFile"
      "secretAccessKeyFile"
    ];
    secretInStore = settings // {
      secretAccessKeyFile = "${builtins.storeDir}/0000000000000000000000000000000-secret";
    };
    relativeSnapshotDir = settings // {
      snapshotDir = "snapshots";
    };
    bothAgeRecipients = settings // {
      ageRecipients = [ "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" ];
      ageRecipientsFile = "/etc/offsite/age-recipients.txt";
    };
  };

  # Encryption: recipients inline, or a file handed over as a credential.
  ageRecipients =
    (eval (
      settings
      // {
        ageRecipients = [
          "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb0ZBx5SzyEvFB6sNNXyHHI5NZ4g4iSjwlgC4MdUw7Y"
        ];
      }
    )).units;
  ageRecipientsFile =
    (eval (settings // { ageRecipientsFile = "/etc/offsite/age-recipients.txt"; })).units;

  # Link limits: a bandwidth timetable and a request rate.
  limits =
    (eval (
      settings
      // {
        bwLimit = "08:00,2M 23:00,off";
        tpsLimit = 10;
      }
    )).units;

  # The same credentials through an EnvironmentFile need no *File options.
  environmentFileOnly =
    (eval (
      removeAttrs settings [
        "accessKeyIdFile"
        "secretAccessKeyFile"
      ]
      // {
        environmentFile = "/run/secrets/etcd-offload.env";
      }
    )).units;
}
