# Evaluates nix/module.nix with the stand-in lib and NixOS, for nix/check.sh:
#   nix eval --json --impure --file nix/check/module.nix \
#     --argstr package /dir/with/bin/offsite units.watch
# `package` is a directory holding bin/offsite, so that
# `systemd-analyze verify` finds the ExecStart binary. `module` is the
# module to evaluate (another revision's, to see a check fail before a fix).
{
  package ? "/nonexistent",
  module ? ../module.nix,
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

  # Everything on: the checks, their pings, metrics.
  full = settings // {
    pingUrlFile = "/run/secrets/offsite_ping_etcd_offload";
    metrics = {
      textfileDirectory = "/var/lib/prometheus-node-exporter-text-files";
      pushgatewayUrlFile = "/run/secrets/offsite_pushgateway_url";
    };
    verify = {
      enable = true;
      pingUrlFile = "/run/secrets/offsite_ping_etcd_verify";
    };
    drill = {
      enable = true;
      pingUrlFile = "/run/secrets/offsite_ping_etcd_drill";
    };
  };

  # A k3s server with embedded etcd, as the plan runs it.
  k3sServer = {
    services.k3s = {
      enable = true;
      role = "server";
      clusterInit = true;
      extraFlags = [ "--disable=traefik" ];
    };
  };

  evalWith =
    extra: s:
    nixos.eval {
      modules = [
        module
        { services.offsite.etcdOffload = s; }
      ]
      ++ extra;
      pkgs = { inherit offsite; };
    };
  eval = evalWith [ ];
  # What check.sh needs of a configuration besides its units.
  parts = e: {
    inherit (e) units;
    tmpfiles = lib.concatStringsSep "\n" e.config.systemd.tmpfiles.rules + "\n";
    groups = lib.concatStringsSep "\n" (builtins.attrNames e.config.users.groups) + "\n";
    k3sFlags = e.config.services.k3s.extraFlags;
  };
in
{
  # Unit files by name, per mode.
  units = {
    watch = (eval settings).units;
    timer = (eval (settings // { mode = "timer"; })).units;
    disabled = (eval { }).units;
  };

  full = parts (eval full);
  fullTimer = parts (eval (full // { mode = "timer"; }));

  # Setting OnCalendar alone keeps the other defaults.
  timerOnCalendar =
    (eval (
      settings
      // {
        mode = "timer";
        timerConfig.OnCalendar = "*:0/30";
        verify = {
          enable = true;
          timerConfig.OnCalendar = "*-*-* 07:00:00";
        };
        drill = {
          enable = true;
          timerConfig.OnCalendar = "Sat *-*-* 04:00:00";
        };
      }
    )).units;

  # Snapshot directories outside k3s's layout, and one written with a
  # trailing slash.
  snapshotVarLib = parts (eval (settings // { snapshotDir = "/var/lib/etcd-snapshots"; }));
  snapshotTrailingSlash = parts (
    eval (settings // { snapshotDir = "/var/lib/rancher/k3s/server/db/snapshots/"; })
  );

  k3s = parts (evalWith [ k3sServer ] (settings // { k3s.manageSnapshots = true; }));

  # Messages of failed assertions, per broken setting.
  failures =
    lib.mapAttrs (_: s: (eval s).failedAssertions) {
      noEndpoint = removeAttrs settings [ "endpoint" ];
      noCredentials = removeAttrs settings [
        "accessKeyIdFile"
        "secretAccessKeyFile"
      ];
      secretInStore = settings // {
        secretAccessKeyFile = "${builtins.storeDir}/0000000000000000000000000000000-secret";
      };
      pingUrlInStore = settings // {
        pingUrlFile = "${builtins.storeDir}/0000000000000000000000000000000-ping";
      };
      relativeSnapshotDir = settings // {
        snapshotDir = "snapshots";
      };
      sharedSnapshotDir = settings // {
        snapshotDir = "/var/lib/";
      };
      bothAgeRecipients = settings // {
        ageRecipients = [ "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" ];
        ageRecipientsFile = "/etc/offsite/age-recipients.txt";
      };
      drillWithoutIdentity = settings // {
        ageRecipients = [ "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" ];
        drill.enable = true;
      };
      sharedMetricsDir = settings // {
        metrics.textfileDirectory = "/var/lib";
      };
    }
    // lib.mapAttrs (_: e: e.failedAssertions) {
      # k3s without embedded etcd takes no etcd snapshots.
      k3sSqlite = evalWith [
        {
          services.k3s = {
            enable = true;
            role = "server";
          };
        }
      ] (settings // { k3s.manageSnapshots = true; });
      k3sExternalDatastore = evalWith [
        {
          services.k3s = {
            enable = true;
            clusterInit = true;
            extraFlags = [ "--datastore-endpoint=postgres://db/k3s" ];
          };
        }
      ] (settings // { k3s.manageSnapshots = true; });
      k3sBadSchedule = evalWith [ k3sServer ] (
        settings
        // {
          k3s = {
            manageSnapshots = true;
            snapshotSchedule = "every 12h";
          };
        }
      );
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
        drill = {
          enable = true;
          ageIdentityFile = "/run/secrets/offsite_age_identity";
        };
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
