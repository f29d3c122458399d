# NixOS module: services.offsite.etcdOffload ships this node's k3s etcd
# snapshots to MinIO with `offsite offload`, as the hardened unit
# etcd-offload.service (plus etcd-offload.timer in timer mode), and can
# check them: etcd-offload-verify (`offsite verify etcd`, daily) and
# etcd-offload-drill (`offsite drill etcd`, weekly), oneshot units in the
# same sandbox with the same credentials.
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
  opt = name: "services.offsite.etcdOffload.${name}";

  # Trailing slashes would make dirOf return the directory itself.
  snapshotDir =
    let
      m = builtins.match "(.*[^/])/+" cfg.snapshotDir;
    in
    if m == null then cfg.snapshotDir else builtins.head m;
  # k3s keeps its snapshots in <data-dir>/server/db/snapshots and creates
  # that directory only at its first snapshot. In that layout the unit sees
  # the parent, k3s's db directory (the etcd data the snapshots copy
  # anyway), so that a snapshot directory created later appears. Any other
  # directory is bound itself, and a tmpfiles rule creates it beforehand:
  # its parent may hold anything.
  k3sLayout = builtins.match ".+/server/db/snapshots" snapshotDir != null;
  snapshotBind = if k3sLayout then dirOf snapshotDir else snapshotDir;
  # Directories that hold other things than snapshots: binding one would
  # show the unit far more than its snapshots.
  sharedDirs = [
    "/"
    "/boot"
    "/etc"
    "/home"
    "/mnt"
    "/nix"
    "/nix/store"
    "/opt"
    "/root"
    "/run"
    "/srv"
    "/tmp"
    "/usr"
    "/var"
    "/var/lib"
    "/var/lib/rancher"
    "/var/lib/rancher/k3s"
    "/var/lib/rancher/k3s/server"
    "/var/tmp"
  ];

  # Each unit of the module runs in a directory of its own as its root (the
  # sandbox below): an empty directory on /run (a tmpfs), created by
  # tmpfiles. systemd creates the mount points it needs in it; a unit of
  # its own, so that one unit's mount points never show in another's root.
  sandboxRoot = "/run/offsite-sandbox";
  unitNames = [
    "etcd-offload"
  ]
  ++ lib.optional cfg.verify.enable "etcd-offload-verify"
  ++ lib.optional cfg.drill.enable "etcd-offload-drill";

  metricsGroup = "offsite-metrics";
  metricsFile =
    job:
    if cfg.metrics.textfileDirectory == null then
      null
    else
      "${cfg.metrics.textfileDirectory}/offsite-${job}.prom";

  # Secrets reach the units through LoadCredential: systemd reads the files
  # (root-only sops-nix secrets) and hands each unit private copies in
  # $CREDENTIALS_DIRECTORY; systemd expands %d to that directory.
  credentialsFor =
    {
      pingUrlFile,
      extra ? { },
    }:
    lib.filterAttrs (_: c: c.file != null) (
      {
        MINIO_ACCESS_KEY_ID_FILE = {
          name = "minio_access_key_id";
          file = cfg.accessKeyIdFile;
        };
        MINIO_SECRET_ACCESS_KEY_FILE = {
          name = "minio_secret_access_key";
          file = cfg.secretAccessKeyFile;
        };
        # A ping URL holds its check's key; each unit pings a check of its own.
        OFFSITE_PING_URL_FILE = {
          name = "ping_url";
          file = pingUrlFile;
        };
        # May carry basic auth in its userinfo.
        OFFSITE_PUSHGATEWAY_URL_FILE = {
          name = "pushgateway_url";
          file = cfg.metrics.pushgatewayUrlFile;
        };
      }
      // extra
    );

  outsideStore = f: lib.hasPrefix "/" f && !lib.hasPrefix builtins.storeDir f;
  fileAssertions =
    option: file:
    lib.optional (file != null) {
      assertion = outsideStore file;
      message = "${opt option}: ${toString file} must be an absolute path outside the Nix store (the store is world-readable).";
    };
  secretFileAssertions =
    option: file: what:
    [
      {
        assertion = file != null || cfg.environmentFile != null;
        message = "${opt option}: set it to a file holding the MinIO ${what} (e.g. a sops-nix secret under /run/secrets), or give it through environmentFile.";
      }
    ]
    ++ fileAssertions option file;

  # The hardening every unit of the module shares. The units hold
  # CAP_DAC_READ_SEARCH, which reads any root-only file they can see, so
  # they see almost nothing: their root is an empty directory with, bound
  # read-only, the Nix store, what DNS and TLS need, and (offload alone)
  # the snapshots; systemd adds /proc, /sys, a private /dev and /tmp, an empty /run with
  # the unit's own credentials, and the offload unit's state directory.
  # Host keys, /etc/shadow, k3s's token and kubeconfig, /run/secrets,
  # /run/keys, /run/agenix, other units' credentials and state: none of
  # it exists in there. (TemporaryFileSystem=/ cannot do this: systemd
  # drops a tmpfs on / in favour of ProtectSystem's read-only /, which
  # DynamicUser implies.)
  sandbox = {
    DynamicUser = true;
    MountAPIVFS = true;
    BindReadOnlyPaths = [
      builtins.storeDir
      # DNS (Go's resolver reads these) and TLS trust; on NixOS most are
      # links into /etc/static, itself a link into the store. "-": a
      # missing one is skipped.
      "-/etc/resolv.conf"
      "-/etc/hosts"
      "-/etc/nsswitch.conf"
      "-/etc/ssl/certs"
      "-/etc/static"
      "-/etc/localtime"
    ];
    BindPaths = lib.optional (cfg.metrics.textfileDirectory != null) cfg.metrics.textfileDirectory;
    SupplementaryGroups = lib.optional (cfg.metrics.textfileDirectory != null) metricsGroup;

    # k3s writes snapshots as root, mode 0600: reading them takes
    # CAP_DAC_READ_SEARCH, and nothing else.
    AmbientCapabilities = [ "CAP_DAC_READ_SEARCH" ];
    CapabilityBoundingSet = [ "CAP_DAC_READ_SEARCH" ];

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
  };

  # The settings every unit passes to offsite.
  commonEnv = {
    MINIO_ENDPOINT = cfg.endpoint;
    MINIO_REGION = cfg.region;
    MINIO_BUCKET = cfg.bucket;
    OFFSITE_HOSTNAME = cfg.hostname;
    OFFSITE_LOG_FORMAT = "json";
  };

  # One unit of the module: offsite with args, in the sandbox.
  mkUnit =
    {
      name,
      description,
      args,
      job,
      credentials,
      environment ? { },
      serviceConfig ? { },
      readOnlyPaths ? [ ],
    }:
    {
      inherit description;
      # Ordered after k3s when both start, never tied to it: offsite must
      # not stop, start or restart k3s, and waits for the snapshot dir itself.
      after = [
        "network-online.target"
        "k3s.service"
      ];
      wants = [ "network-online.target" ];
      environment =
        commonEnv
        // {
          OFFSITE_METRICS_FILE = metricsFile job;
        }
        // environment
        // lib.mapAttrs (_: c: "%d/${c.name}") credentials;
      serviceConfig =
        sandbox
        // {
          RootDirectory = "${sandboxRoot}/${name}";
          BindReadOnlyPaths = sandbox.BindReadOnlyPaths ++ readOnlyPaths;
          ExecStart = utils.escapeSystemdExecArgs ([ (lib.getExe cfg.package) ] ++ args);
          LoadCredential = lib.mapAttrsToList (_: c: "${c.name}:${c.file}") credentials;
          EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
        }
        // serviceConfig;
    };

  # A oneshot unit, run from its timer. A run that hangs is stopped (and
  # fails) after TimeoutStartSec; override it with
  # systemd.services.<unit>.serviceConfig.TimeoutStartSec.
  oneshot = timeout: {
    Type = "oneshot";
    TimeoutStartSec = lib.mkDefault timeout;
  };

  timerOption =
    defaults: what:
    mkOption {
      type = types.attrsOf (
        types.oneOf [
          types.str
          types.int
          types.bool
        ]
      );
      default = { };
      example = {
        OnCalendar = "*-*-* 03:30:00";
      };
      description = ''
        The [Timer] section of ${what}, merged over the defaults
        ${builtins.toJSON defaults}: setting OnCalendar alone keeps the
        others. Set a key to override its default.
      '';
    };
  offloadTimerDefaults = {
    OnCalendar = "hourly";
    RandomizedDelaySec = "10m";
    Persistent = true;
  };
  verifyTimerDefaults = {
    # After k3s's midnight snapshot has been shipped.
    OnCalendar = "*-*-* 06:30:00";
    RandomizedDelaySec = "30m";
    Persistent = true;
  };
  drillTimerDefaults = {
    OnCalendar = "Sun *-*-* 05:00:00";
    RandomizedDelaySec = "1h";
    Persistent = true;
  };
  timerUnit = description: defaults: timerConfig: {
    inherit description;
    wantedBy = [ "timers.target" ];
    timerConfig = defaults // timerConfig;
  };

  pingUrlFileOption =
    what:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/offsite_ping_${what}";
      description = ''
        A file holding the healthchecks-style ping URL of ${what}
        (OFFSITE_PING_URL_FILE): `<url>/start`, `<url>` on success,
        `<url>/fail` on failure. The URL holds its check's key: it is read
        by systemd (LoadCredential), never put into the Nix store. Give each
        unit a check of its own.
      '';
    };

  k3s = config.services.k3s;
  # k3s's module joins extraFlags into ExecStart unquoted: each flag is
  # quoted here for systemd, the cron expression holds spaces.
  k3sSnapshotFlags = map utils.escapeSystemdExecArg [
    "--etcd-snapshot-schedule-cron=${cfg.k3s.snapshotSchedule}"
    "--etcd-snapshot-retention=${toString cfg.k3s.snapshotRetention}"
    "--etcd-snapshot-dir=${snapshotDir}"
  ];
  # The flags the rest of the configuration gives k3s.
  otherK3sFlags = builtins.filter (f: !(builtins.elem f k3sSnapshotFlags)) (lib.toList k3s.extraFlags);
  hasFlag = prefix: builtins.any (f: lib.hasPrefix prefix f) otherK3sFlags;
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
      description = ''
        Where k3s writes etcd snapshots (k3s's --etcd-snapshot-dir). The
        units may only read it. In k3s's layout (`<data-dir>/server/db/snapshots`)
        they see its parent, k3s's db directory, so that the directory may
        appear after they start; any other directory is created by tmpfiles
        and shown to them alone.
      '';
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

    pingUrlFile = pingUrlFileOption "etcd-offload";

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
        needed here (OFFSITE_AGE_RECIPIENTS), except by the drill.
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
        An EnvironmentFile for every unit of the module, for any other
        offsite setting, or the credentials as MINIO_ACCESS_KEY_ID /
        MINIO_SECRET_ACCESS_KEY instead of the *File options. Not for a
        ping URL: the units would all ping one check (use the pingUrlFile
        options). Paths it names must be visible in the sandbox.
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

    timerConfig = timerOption offloadTimerDefaults "etcd-offload.timer (timer mode)";

    metrics = {
      textfileDirectory = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/var/lib/prometheus-node-exporter-text-files";
        description = ''
          node_exporter's textfile directory. Each unit then writes its
          metrics there (OFFSITE_METRICS_FILE): offsite-offload.prom,
          offsite-verify-etcd.prom, offsite-drill-etcd.prom. The directory is
          bound read-write into the sandbox, created if missing, and given an
          ACL entry (tmpfiles `a+`) that lets the group ${metricsGroup} write
          in it; the units carry that group. Its file system needs POSIX
          ACLs (ZFS: acltype=posixacl). Point node_exporter at it:
          `--collector.textfile.directory=<this directory>`.
        '';
      };

      pushgatewayUrlFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/offsite_pushgateway_url";
        description = ''
          A file holding a Pushgateway URL (OFFSITE_PUSHGATEWAY_URL_FILE; it
          may carry basic auth). Read by systemd (LoadCredential).
        '';
      };
    };

    verify = {
      enable = lib.mkEnableOption "a daily `offsite verify etcd` (etcd-offload-verify.timer): every snapshot of this host has a matching sidecar, and the newest is fresh";

      allHosts = mkOption {
        type = types.bool;
        default = false;
        description = "Check every host's snapshots (--all-hosts), not only this one's.";
      };

      pingUrlFile = pingUrlFileOption "etcd-offload-verify";

      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [
          "--max-age"
          "26h"
        ];
        description = "Extra arguments after `offsite verify etcd`.";
      };

      timerConfig = timerOption verifyTimerDefaults "etcd-offload-verify.timer";
    };

    drill = {
      enable = lib.mkEnableOption ''
        a weekly restore drill, `offsite drill etcd` (etcd-offload-drill.timer):
        fetch the newest snapshot, check it and open it as an etcd database.
        On one node is enough'';

      host = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "cp2";
        description = "Drill this host's snapshots (--host); null for this node's. See allHosts.";
      };

      allHosts = mkOption {
        type = types.bool;
        default = false;
        description = "Drill the newest snapshot of every host (--all-hosts).";
      };

      ageIdentityFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/offsite_age_identity";
        description = ''
          The age identity that decrypts the snapshots
          (OFFSITE_AGE_IDENTITY_FILE), needed when they are encrypted. Read by
          systemd (LoadCredential) and given to the drill alone; keep it on
          the one node that drills.
        '';
      };

      pingUrlFile = pingUrlFileOption "etcd-offload-drill";

      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Extra arguments after `offsite drill etcd`.";
      };

      timerConfig = timerOption drillTimerDefaults "etcd-offload-drill.timer";
    };

    k3s = {
      manageSnapshots = lib.mkEnableOption ''
        k3s's etcd snapshot settings from this module: services.k3s.extraFlags
        gets --etcd-snapshot-schedule-cron, --etcd-snapshot-retention and
        --etcd-snapshot-dir (snapshotDir). Needs k3s with embedded etcd
        (services.k3s.clusterInit, or serverAddr to join such a cluster), and
        services.k3s.extraFlags as a list'';

      snapshotSchedule = mkOption {
        type = types.str;
        default = "0 */12 * * *";
        example = "0 */6 * * *";
        description = "When k3s takes a snapshot, a five-field cron expression (k3s's default: every 12 hours).";
      };

      snapshotRetention = mkOption {
        type = types.ints.positive;
        default = 5;
        description = "How many snapshots k3s keeps on the node (k3s's default: 5); MinIO keeps the shipped ones.";
      };
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = cfg.endpoint != null && cfg.endpoint != "";
            message = "${opt "endpoint"}: set the MinIO endpoint URL, e.g. \"http://10.10.10.209:9000\".";
          }
          {
            assertion =
              lib.hasPrefix "/" cfg.snapshotDir
              && builtins.match ".*(//|/\\./|/\\.\\./|/\\.\\.?$|[[:space:]]).*" cfg.snapshotDir == null;
            message = "${opt "snapshotDir"}: ${cfg.snapshotDir} must be an absolute path without //, . or .. components or spaces.";
          }
          {
            assertion = !(builtins.elem snapshotDir sharedDirs) && outsideStore snapshotDir;
            message = "${opt "snapshotDir"}: ${cfg.snapshotDir} is a directory that holds more than snapshots; the units would see all of it. Give k3s a directory of its own (--etcd-snapshot-dir).";
          }
          {
            assertion = cfg.ageRecipients == [ ] || cfg.ageRecipientsFile == null;
            message = "${opt "ageRecipients"}: set it or ageRecipientsFile, not both.";
          }
          {
            assertion = cfg.environmentFile == null || outsideStore cfg.environmentFile;
            message = "${opt "environmentFile"}: ${toString cfg.environmentFile} must be an absolute path outside the Nix store.";
          }
          {
            assertion = !(cfg.drill.allHosts && cfg.drill.host != null);
            message = "${opt "drill.host"}: set it or drill.allHosts, not both.";
          }
          {
            assertion =
              cfg.metrics.textfileDirectory == null
              || (
                lib.hasPrefix "/" cfg.metrics.textfileDirectory
                && !(builtins.elem cfg.metrics.textfileDirectory sharedDirs)
                && outsideStore cfg.metrics.textfileDirectory
              );
            message = "${opt "metrics.textfileDirectory"}: ${toString cfg.metrics.textfileDirectory} must be an absolute path of node_exporter's textfile directory, not a shared one like /var/lib: the units may write in it.";
          }
        ]
        ++ secretFileAssertions "accessKeyIdFile" cfg.accessKeyIdFile "access key id"
        ++ secretFileAssertions "secretAccessKeyFile" cfg.secretAccessKeyFile "secret access key"
        ++ fileAssertions "pingUrlFile" cfg.pingUrlFile
        ++ fileAssertions "verify.pingUrlFile" cfg.verify.pingUrlFile
        ++ fileAssertions "drill.pingUrlFile" cfg.drill.pingUrlFile
        ++ fileAssertions "drill.ageIdentityFile" cfg.drill.ageIdentityFile
        ++ fileAssertions "metrics.pushgatewayUrlFile" cfg.metrics.pushgatewayUrlFile
        ++ fileAssertions "ageRecipientsFile" cfg.ageRecipientsFile;

        systemd.tmpfiles.rules = [
          "d ${sandboxRoot} 0755 root root -"
        ]
        ++ map (n: "d ${sandboxRoot}/${n} 0755 root root -") unitNames
        ++ lib.optional (!k3sLayout) "d ${snapshotDir} 0700 root root -"
        ++ lib.optionals (cfg.metrics.textfileDirectory != null) [
          # Created if missing, left as it is otherwise; the ACL lets the
          # units write their files (temp file, then rename) beside others'.
          "d ${cfg.metrics.textfileDirectory} - - - -"
          "a+ ${cfg.metrics.textfileDirectory} - - - - group:${metricsGroup}:rwx"
        ];

        users.groups = lib.mkIf (cfg.metrics.textfileDirectory != null) { ${metricsGroup} = { }; };

        systemd.services.etcd-offload =
          mkUnit {
            name = "etcd-offload";
            description = "Ship k3s etcd snapshots to MinIO (offsite offload ${if watch then "watch" else "once"})";
            args = [
              "offload"
              (if watch then "watch" else "once")
            ]
            ++ cfg.extraArgs;
            job = "offload";
            # "-": in k3s's layout the directory may appear only after
            # k3s's first start.
            readOnlyPaths = [ "-${snapshotBind}" ];
            credentials = credentialsFor {
              inherit (cfg) pingUrlFile;
              # Not a secret, but it may sit where the sandbox hides paths.
              extra.OFFSITE_AGE_RECIPIENTS_FILE = {
                name = "age_recipients";
                file = cfg.ageRecipientsFile;
              };
            };
            environment = {
              OFFSITE_SNAPSHOT_DIR = snapshotDir;
              OFFSITE_QUIET_PERIOD = cfg.quietPeriod;
              OFFSITE_AGE_RECIPIENTS =
                if cfg.ageRecipients == [ ] then null else lib.concatStringsSep "," cfg.ageRecipients;
              OFFSITE_BWLIMIT = cfg.bwLimit;
              OFFSITE_TPS_LIMIT = if cfg.tpsLimit == null then null else toString cfg.tpsLimit;
            }
            // lib.optionalAttrs watch { OFFSITE_RESCAN_INTERVAL = cfg.rescanInterval; };
            serviceConfig = {
              # Its own; the verify and drill units keep no state.
              StateDirectory = "offsite";
              StateDirectoryMode = "0700";
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
                oneshot "1h"
            );
          }
          // {
            wantedBy = lib.optional watch "multi-user.target";
            # In watch mode: give up after 5 failed starts in an hour, so a
            # broken setup ends as a failed unit instead of a restart loop.
            startLimitBurst = 5;
            startLimitIntervalSec = 3600;
          };

        systemd.timers.etcd-offload = lib.mkIf (!watch) (
          timerUnit "Ship k3s etcd snapshots to MinIO (offsite offload once)" offloadTimerDefaults cfg.timerConfig
        );
      }

      (lib.mkIf cfg.verify.enable {
        systemd.services.etcd-offload-verify = mkUnit {
          name = "etcd-offload-verify";
          description = "Verify this node's etcd snapshots in MinIO (offsite verify etcd)";
          args = [
            "verify"
            "etcd"
          ]
          ++ lib.optional cfg.verify.allHosts "--all-hosts"
          ++ cfg.verify.extraArgs;
          job = "verify-etcd";
          credentials = credentialsFor { inherit (cfg.verify) pingUrlFile; };
          serviceConfig = oneshot "1h";
        };
        systemd.timers.etcd-offload-verify =
          timerUnit "Verify this node's etcd snapshots in MinIO daily" verifyTimerDefaults
            cfg.verify.timerConfig;
      })

      (lib.mkIf cfg.drill.enable {
        assertions = [
          {
            assertion =
              (cfg.ageRecipients == [ ] && cfg.ageRecipientsFile == null) || cfg.drill.ageIdentityFile != null;
            message = "${opt "drill.ageIdentityFile"}: the snapshots are encrypted (ageRecipients): the drill needs the age identity that decrypts them.";
          }
        ];
        systemd.services.etcd-offload-drill = mkUnit {
          name = "etcd-offload-drill";
          description = "Restore drill of an etcd snapshot from MinIO (offsite drill etcd)";
          args = [
            "drill"
            "etcd"
          ]
          ++ lib.optionals (cfg.drill.host != null) [
            "--host"
            cfg.drill.host
          ]
          ++ lib.optional cfg.drill.allHosts "--all-hosts"
          ++ cfg.drill.extraArgs;
          job = "drill-etcd";
          credentials = credentialsFor {
            inherit (cfg.drill) pingUrlFile;
            extra.OFFSITE_AGE_IDENTITY_FILE = {
              name = "age_identity";
              file = cfg.drill.ageIdentityFile;
            };
          };
          serviceConfig = oneshot "2h";
        };
        systemd.timers.etcd-offload-drill =
          timerUnit "Restore drill of an etcd snapshot from MinIO weekly" drillTimerDefaults
            cfg.drill.timerConfig;
      })

      (lib.mkIf cfg.k3s.manageSnapshots {
        assertions = [
          {
            # Only embedded etcd takes snapshots; a lone server without
            # --cluster-init runs on SQLite, and --datastore-endpoint
            # means an external database.
            assertion =
              k3s.enable
              && k3s.role == "server"
              && (k3s.clusterInit || k3s.serverAddr != "" || hasFlag "--cluster-init")
              && !(hasFlag "--datastore-endpoint");
            message = "${opt "k3s.manageSnapshots"}: k3s takes etcd snapshots only as a server with embedded etcd: set services.k3s.enable, role = \"server\" and clusterInit = true (the first server) or serverAddr (the others), without --datastore-endpoint.";
          }
          {
            assertion = builtins.match "[^ \"'%$\\\\]+( [^ \"'%$\\\\]+){4}" cfg.k3s.snapshotSchedule != null;
            message = "${opt "k3s.snapshotSchedule"}: \"${cfg.k3s.snapshotSchedule}\" is not a five-field cron expression.";
          }
          {
            assertion = !(hasFlag "--etcd-snapshot-schedule-cron" || hasFlag "--etcd-snapshot-retention" || hasFlag "--etcd-snapshot-dir" || hasFlag "--etcd-disable-snapshots");
            message = "${opt "k3s.manageSnapshots"}: services.k3s.extraFlags sets etcd snapshot flags of its own; remove them or this option.";
          }
        ];
        services.k3s.extraFlags = k3sSnapshotFlags;
      })
    ]
  );
}
