# NixOS module: services.offsite.etcdOffload ships this node's k3s etcd
# snapshots to MinIO with `offsite offload`, as the hardened unit
# etcd-offload.service (plus etcd-offload.timer in timer mode).
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.services.offsite.etcdOffload;
  inherit (lib) mkOption types;
  watch = cfg.mode == "watch";

  # Secrets reach the service through LoadCredential: systemd reads the
  # files (root-only sops-nix secrets) and hands the service private copies
  # in $CREDENTIALS_DIRECTORY; systemd expands %d to that directory.
  credentials = lib.filterAttrs (_: c: c.file != null) {
    MINIO_ACCESS_KEY_ID_FILE = {
      name = "minio_access_key_id";
      file = cfg.accessKeyIdFile;
    };
    MINIO_SECRET_ACCESS_KEY_FILE = {
      name = "minio_secret_access_key";
      file = cfg.secretAccessKeyFile;
    };
    # Not a secret, but it may sit where the sandbox hides paths.
    OFFSITE_AGE_RECIPIENTS_FILE = {
      name = "age_recipients";
      file = cfg.ageRecipientsFile;
    };
  };

  outsideStore = f: lib.hasPrefix "/" f && !lib.hasPrefix builtins.storeDir f;
  secretFileAssertions =
    option: file: what:
    [
      {
        assertion = file != null || cfg.environmentFile != null;
        message = "services.offsite.etcdOffload.${option}: set it to a file holding the MinIO ${what} (e.g. a sops-nix secret under /run/secrets), or give it through environmentFile.";
      }
      {
        assertion = file == null || outsideStore file;
        message = "services.offsite.etcdOffload.${option}: ${toString file} must be an absolute path outside the Nix store (the store is world-readable).";
      }
    ];
in
{
  options.services.offsite.etcdOffload = {
    enable = lib.mkEnableOption "shipping this node's k3s etcd snapshots to MinIO with offsite";

    package = lib.mkPackageOption pkgs "offsite" { };

    mode = mkOption {
      type = types.enum [
        "watch"
        "timer"
      ];
      default = "watch";
      description = ''
        `watch`: a long-running service (`offsite offload watch`) that uploads
        each snapshot once it has been quiet for `quietPeriod`.
        `timer`: `offsite offload once` from etcd-offload.timer (see `timerConfig`).
      '';
    };

    snapshotDir = mkOption {
      type = types.str;
      default = "/var/lib/rancher/k3s/server/db/snapshots";
      description = "Where k3s writes etcd snapshots. The service may only read it.";
    };

    endpoint = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "http://10.10.10.209:9000";
      description = "MinIO S3 endpoint URL (MINIO_ENDPOINT).";
    };

    bucket = mkOption {
      type = types.str;
      default = "homelab-backup-etcd";
      description = "Destination bucket; it must exist (offsite never creates buckets).";
    };

    region = mkOption {
      type = types.str;
      default = "us-east-1";
      description = "Destination region (MINIO_REGION).";
    };

    accessKeyIdFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/minio_etcd_access_key_id";
      description = ''
        File holding the MinIO access key id. Read by systemd
        (LoadCredential), never copied to the Nix store.
      '';
    };

    secretAccessKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/minio_etcd_secret_access_key";
      description = ''
        File holding the MinIO secret access key. Read by systemd
        (LoadCredential), never copied to the Nix store.
      '';
    };

    quietPeriod = mkOption {
      type = types.str;
      default = "30s";
      description = "How long a snapshot must stay unchanged before it is uploaded (OFFSITE_QUIET_PERIOD).";
    };

    rescanInterval = mkOption {
      type = types.str;
      default = "1h";
      description = "Full rescan interval in watch mode, the safety net for missed events (OFFSITE_RESCAN_INTERVAL).";
    };

    bwLimit = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "08:00,2M 23:00,off";
      description = "Bandwidth limit in rclone's --bwlimit syntax, a timetable included (OFFSITE_BWLIMIT); null for none.";
    };

    tpsLimit = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 10;
      description = "HTTP requests per second to the destination, for a slow disk (OFFSITE_TPS_LIMIT); null for none.";
    };

    hostname = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "cp1";
      description = "The `<hostname>/` prefix in the bucket; null uses the short host name.";
    };

    ageRecipients = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" ];
      description = ''
        Encrypt every new snapshot to these age public keys (`age1...`, or
        `ssh-ed25519 ...` / `ssh-rsa ...`) before it leaves the node: it is
        stored as `<name>.age`. The identity that decrypts it is never
        needed here (OFFSITE_AGE_RECIPIENTS).
      '';
    };

    ageRecipientsFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/etc/offsite/age-recipients.txt";
      description = "A file of age recipients, one per line (`#` comments), as `age -R` reads it; instead of `ageRecipients`.";
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/etcd-offload.env";
      description = ''
        An EnvironmentFile for the service, for any other offsite setting
        (e.g. OFFSITE_PING_URL), or the credentials as MINIO_ACCESS_KEY_ID /
        MINIO_SECRET_ACCESS_KEY instead of the *File options.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "--quiet-period"
        "1m"
      ];
      description = "Extra arguments after `offsite offload watch` (or `once`).";
    };

    timerConfig = mkOption {
      type = types.attrsOf (
        types.oneOf [
          types.str
          types.int
          types.bool
        ]
      );
      default = {
        OnCalendar = "hourly";
        RandomizedDelaySec = "10m";
        Persistent = true;
      };
      description = "The [Timer] section of etcd-offload.timer in timer mode.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.endpoint != null && cfg.endpoint != "";
        message = "services.offsite.etcdOffload.endpoint: set the MinIO endpoint URL, e.g. \"http://10.10.10.209:9000\".";
      }
      {
        assertion = lib.hasPrefix "/" cfg.snapshotDir;
        message = "services.offsite.etcdOffload.snapshotDir: ${cfg.snapshotDir} must be an absolute path.";
      }
      {
        assertion = cfg.ageRecipients == [ ] || cfg.ageRecipientsFile == null;
        message = "services.offsite.etcdOffload.ageRecipients: set it or ageRecipientsFile, not both.";
      }
      {
        assertion = cfg.environmentFile == null || outsideStore cfg.environmentFile;
        message = "services.offsite.etcdOffload.environmentFile: ${toString cfg.environmentFile} must be an absolute path outside the Nix store.";
      }
    ]
    ++ secretFileAssertions "accessKeyIdFile" cfg.accessKeyIdFile "access key id"
    ++ secretFileAssertions "secretAccessKeyFile" cfg.secretAccessKeyFile "secret access key";

    systemd.services.etcd-offload = {
      description = "Ship k3s etcd snapshots to MinIO (offsite offload ${if watch then "watch" else "once"})";
      # Ordered after k3s when both start, never tied to it: offload must not
      # stop, start or restart k3s, and waits for the snapshot dir itself.
      after = [
        "network-online.target"
        "k3s.service"
      ];
      wants = [ "network-online.target" ];
      wantedBy = lib.optional watch "multi-user.target";
      # In watch mode: give up after 5 failed starts in an hour, so a broken
      # setup ends as a failed unit instead of a restart loop.
      startLimitBurst = 5;
      startLimitIntervalSec = 3600;

      environment = {
        MINIO_ENDPOINT = cfg.endpoint;
        MINIO_REGION = cfg.region;
        MINIO_BUCKET = cfg.bucket;
        OFFSITE_SNAPSHOT_DIR = cfg.snapshotDir;
        OFFSITE_QUIET_PERIOD = cfg.quietPeriod;
        OFFSITE_HOSTNAME = cfg.hostname;
        OFFSITE_LOG_FORMAT = "json";
        OFFSITE_AGE_RECIPIENTS = if cfg.ageRecipients == [ ] then null else lib.concatStringsSep "," cfg.ageRecipients;
        OFFSITE_BWLIMIT = cfg.bwLimit;
        OFFSITE_TPS_LIMIT = if cfg.tpsLimit == null then null else toString cfg.tpsLimit;
      }
      // lib.optionalAttrs watch { OFFSITE_RESCAN_INTERVAL = cfg.rescanInterval; }
      // lib.mapAttrs (_: c: "%d/${c.name}") credentials;

      serviceConfig = {
        ExecStart = utils.escapeSystemdExecArgs (
          [
            (lib.getExe cfg.package)
            "offload"
            (if watch then "watch" else "once")
          ]
          ++ cfg.extraArgs
        );
        LoadCredential = lib.mapAttrsToList (_: c: "${c.name}:${c.file}") credentials;
        EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;

        DynamicUser = true;
        StateDirectory = "offsite";
        StateDirectoryMode = "0700";

        # k3s writes snapshots as root, mode 0600: reading them takes
        # CAP_DAC_READ_SEARCH, and nothing else.
        AmbientCapabilities = [ "CAP_DAC_READ_SEARCH" ];
        CapabilityBoundingSet = [ "CAP_DAC_READ_SEARCH" ];
        # That capability reads any root-only file the service can see, so
        # it sees little: of /var/lib only its own state directory (systemd
        # mounts it over the empty /var/lib, since v250) and the snapshot
        # dir's parent (the etcd data the snapshots copy anyway), read-only,
        # so that a snapshot dir k3s creates later appears; no sops-nix keys
        # or other services' state; no secrets but its own credentials; no
        # shadow file or host keys. k3s creates that parent at its first
        # start, and the unit starts after k3s; if it is still missing, the
        # service cannot see it appear and pings /fail at every rescan until
        # it is restarted.
        TemporaryFileSystem = [ "/var/lib:ro" ];
        # "-": k3s may create these only after the service starts.
        BindReadOnlyPaths = [ "-${dirOf cfg.snapshotDir}" ];
        ReadOnlyPaths = [ "-${cfg.snapshotDir}" ];
        InaccessiblePaths = [
          "-/run/secrets"
          "-/run/secrets.d"
          "-/var/lib/sops-nix"
          "-/etc/shadow"
          "-/etc/gshadow"
          "-/etc/ssh"
        ];

        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        DevicePolicy = "closed";
        PrivateIPC = true;
        PrivateMounts = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
        UMask = "0077";
      }
      // (
        if watch then
          {
            Type = "exec";
            Restart = "on-failure";
            RestartSec = "30s";
            # Exit 2 is a configuration error: restarting cannot fix it.
            RestartPreventExitStatus = 2;
          }
        else
          { Type = "oneshot"; }
      );
    };

    systemd.timers.etcd-offload = lib.mkIf (!watch) {
      description = "Ship k3s etcd snapshots to MinIO (offsite offload once)";
      wantedBy = [ "timers.target" ];
      inherit (cfg) timerConfig;
    };
  };
}
