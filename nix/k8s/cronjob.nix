# The rgw-mirror CronJob, and its verify and drill CronJobs, as plain data
# with nothing but builtins: no nixpkgs, no kubenix. The flake exports it
# as lib.mkRgwMirrorCronJob; ./kubenix.nix wraps it for kubenix. Returns
#   {
#     cronJob;        # the mirror: offsite mirror, daily
#     verifyCronJob;  # offsite verify rgw, daily after the mirror (null when off)
#     drillCronJob;   # offsite drill rgw --bucket B, weekly (null when off)
#     cronJobs;       # the ones that are on, by name
#     secrets;        # [ { name, namespace, keys, holds } ]: the Secrets they read
#   }
# `secrets` describes the Secrets the jobs read (they are not manifests:
# ./secrets.nix makes them from decrypted SOPS values, or use sealed-secrets
# or kubectl). The jobs read every secret as a file (RGW_*_FILE, ...), from a
# projected volume: never as an env value.
{
  # The offsite image pinned by digest: "registry/offsite@sha256:<64 hex>".
  image,
  # Source Ceph RGW endpoint, e.g. the rook-ceph-rgw Service in the cluster.
  rgwEndpoint,
  # Destination MinIO endpoint, e.g. "http://10.10.10.209:9000".
  minioEndpoint,
  # Required: the zone the schedules are read in, e.g. "Europe/Berlin"
  # ("Etc/UTC" if you mean UTC). Without it "04:00, after the database
  # dumps" would be the kube-controller-manager's 04:00.
  timeZone ? null,
  name ? "rgw-mirror",
  namespace ? "applications",
  schedule ? "0 4 * * *",
  # copy, sync or auto (see offsite's OFFSITE_MODE).
  mode ? "copy",
  # Required: the source buckets to mirror, a non-empty list of names, or
  # "*" for every bucket the credentials list (less excludeBuckets). It
  # sets RGW_BUCKETS, which offsite requires.
  buckets ? null,
  excludeBuckets ? [ ],
  minioBucket ? "homelab-backup-rgw",
  rgwRegion ? "",
  minioRegion ? "us-east-1",
  # Secrets holding AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
  sourceSecret ? "s3-credentials",
  destinationSecret ? "rgw-mirror-s3-credentials",
  # The mirror's healthchecks-style ping URL, from a Secret:
  # { name = "offsite-ping-urls"; key = "rgw-mirror"; }. It holds the
  # check's key: never put it in extraEnv (it would sit in the Nix store
  # and the manifest). null for no pings.
  pingUrlSecret ? null,
  # A Pushgateway URL for the metrics of every job, from a Secret
  # ({ name; key; }; it may carry basic auth). null for none.
  pushgatewayUrlSecret ? null,
  # More env vars, e.g. [ { name = "OFFSITE_MAX_DELETE"; value = "5%"; } ].
  # Not for secrets (they are refused): use the *Secret arguments.
  extraEnv ? [ ],
  # Merged over the defaults below, per requests and limits.
  resources ? { },
  # Pods that share the buckets, for when one is not enough: above 1 the
  # Job is Indexed, one pod per shard at once, and each mirrors the
  # buckets that hash to its JOB_COMPLETION_INDEX (OFFSITE_SHARDS). A ping
  # URL then needs {shard} in it, or one URL per shard, one per line: a
  # check per shard.
  shards ? 1,
  # Seconds after which the run starts no new transfer, lets the running
  # ones finish and writes its report, unfinished buckets incomplete
  # (OFFSITE_MAX_DURATION). activeDeadlineSeconds counts every retry, so
  # each of the backoffLimit + 1 runs has its share of it, and a run must
  # end 10% of its share (at least 5 minutes) before the share is up: time
  # for the report, the pings and the metrics. null for none.
  maxDurationSeconds ? null,
  startingDeadlineSeconds ? 3600,
  # The Job's deadline (required): a Job without one may hang forever and,
  # concurrencyPolicy being Forbid, stop every later run.
  activeDeadlineSeconds ? 6 * 3600,
  # Retries of a failed run (exit 1); with shards, per shard
  # (backoffLimitPerIndex).
  backoffLimit ? 2,
  successfulJobsHistoryLimit ? 3,
  failedJobsHistoryLimit ? 5,
  uid ? 65532,
  labels ? { },
  # `offsite verify rgw`, daily after the mirror: every source object is
  # in the mirror, and the newest report is fresh and ok. Attributes:
  # enable (true), name ("<name>-verify"), schedule ("0 6 * * *": after a
  # mirror at 04:00; later if your mirror runs long), pingUrlSecret,
  # activeDeadlineSeconds (3 h), backoffLimit (1), extraArgs.
  verify ? { },
  # `offsite drill rgw --bucket B [--sample N]`, weekly: restores bucket B
  # from the mirror into a scratch bucket on the RGW, compares, removes it.
  # Attributes: enable (false), bucket (required when on), sample,
  # name ("<name>-drill"), schedule ("0 13 * * 0": Sundays, away from the
  # mirror's hours, since a mirror of every bucket ("*") would copy the
  # scratch bucket), sourceSecret (RGW credentials that can create and
  # delete buckets; default: sourceSecret), pingUrlSecret,
  # activeDeadlineSeconds (4 h), backoffLimit (0), extraArgs.
  drill ? { },
}:
let
  inherit (builtins)
    all
    any
    concatStringsSep
    div
    elem
    filter
    isAttrs
    isInt
    isList
    isString
    listToAttrs
    match
    throw
    ;

  fail = msg: throw "mkRgwMirrorCronJob: ${msg}";
  url = var: v: if isString v && match "https?://[^/@]+(/.*)?" v != null then v else fail "${var} ${toString v} is not an http:// or https:// URL without credentials";
  max = a: b: if a > b then a else b;
  show = v: if v == null then "null" else toString v;
  optionalList = cond: xs: if cond then xs else [ ];
  # Five fields or a macro; no TZ= prefix, timeZone says that.
  cron =
    what: s:
    if
      isString s
      && (
        match "[^ =]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+" s != null
        || match "@(yearly|annually|monthly|weekly|daily|midnight|hourly)" s != null
      )
    then
      s
    else
      fail "${what} \"${toString s}\" is not a five-field cron expression or @daily-style macro (set the zone with timeZone)";
  seconds =
    what: v:
    if isInt v && v > 0 then
      v
    else
      fail "${what} ${show v} is not a whole number of seconds above 0${
        if what == "activeDeadlineSeconds" then
          ": it is required, since a Job without a deadline may hang forever and, concurrencyPolicy being Forbid, stop every later run"
        else
          ""
      }";
  count =
    what: v: if isInt v && v >= 0 then v else fail "${what} ${show v} is not a whole number (0 or more)";
  secretRef =
    what: v:
    if v == null then
      null
    else if isAttrs v && isString (v.name or null) && isString (v.key or null) then
      v
    else
      fail "${what} must be { name = \"<Secret>\"; key = \"<key>\"; } or null";

  verifyCfg = {
    enable = true;
    name = "${name}-verify";
    schedule = "0 6 * * *";
    pingUrlSecret = null;
    activeDeadlineSeconds = 3 * 3600;
    backoffLimit = 1;
    extraArgs = [ ];
  }
  // verify;
  drillCfg = {
    enable = false;
    bucket = null;
    sample = null;
    name = "${name}-drill";
    schedule = "0 13 * * 0";
    inherit sourceSecret;
    pingUrlSecret = null;
    activeDeadlineSeconds = 4 * 3600;
    backoffLimit = 0;
    extraArgs = [ ];
  }
  // drill;

  checked = {
    image =
      if match "[^@]+@sha256:[0-9a-f]{64}" image != null then
        image
      else
        fail "image ${image} is not pinned by digest (registry/offsite@sha256:<64 hex digits>): a tag can move under a backup job";
    timeZone =
      if timeZone == null then
        fail "timeZone is required: the zone the schedules are read in, e.g. \"Europe/Berlin\" (\"Etc/UTC\" if you mean UTC); without it they follow the kube-controller-manager's zone"
      else if isString timeZone && match "[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*" timeZone != null && timeZone != "Local" then
        timeZone
      else
        fail "timeZone \"${toString timeZone}\" is not an IANA time zone name like \"Europe/Berlin\"";
    mode = if elem mode [ "copy" "sync" "auto" ] then mode else fail "mode ${mode} is not copy, sync or auto";
    schedule = cron "schedule" schedule;
    buckets =
      if buckets == "*" then
        "*"
      else if isList buckets && buckets != [ ] && all (b: isString b && b != "*") buckets then
        concatStringsSep "," buckets
      else
        fail "buckets is required: a non-empty list of bucket names (RGW_BUCKETS=a,b), or \"*\" for every bucket the credentials list (RGW_BUCKETS=*)";
    shards =
      if isInt shards && shards >= 1 && shards <= 1000 then
        shards
      else
        fail "shards ${toString shards} is not a whole number from 1 to 1000";
    activeDeadlineSeconds = seconds "activeDeadlineSeconds" activeDeadlineSeconds;
    backoffLimit = count "backoffLimit" backoffLimit;
    maxDurationSeconds =
      let
        runs = checked.backoffLimit + 1;
        share = div checked.activeDeadlineSeconds runs;
        margin = max 300 (div share 10);
      in
      if maxDurationSeconds == null then
        null
      else if !(isInt maxDurationSeconds && maxDurationSeconds > 0) then
        fail "maxDurationSeconds ${toString maxDurationSeconds} is not a whole number of seconds"
      else if maxDurationSeconds + margin > share then
        fail "maxDurationSeconds ${toString maxDurationSeconds} leaves no time for the report, pings and metrics: activeDeadlineSeconds (${toString checked.activeDeadlineSeconds}) counts every run, ${toString runs} with backoffLimit ${toString checked.backoffLimit}, so each has ${toString share} s, and must end ${toString margin} s (10%, at least 5 min) before that: at most ${toString (share - margin)}"
      else
        maxDurationSeconds;
    rgwEndpoint = url "rgwEndpoint" rgwEndpoint;
    minioEndpoint = url "minioEndpoint" minioEndpoint;
    pingUrlSecret = secretRef "pingUrlSecret" pingUrlSecret;
    pushgatewayUrlSecret = secretRef "pushgatewayUrlSecret" pushgatewayUrlSecret;
    verifyPingUrlSecret = secretRef "verify.pingUrlSecret" verifyCfg.pingUrlSecret;
    drillPingUrlSecret = secretRef "drill.pingUrlSecret" drillCfg.pingUrlSecret;
    drillBucket =
      if isString drillCfg.bucket && match "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]" drillCfg.bucket != null then
        drillCfg.bucket
      else
        fail "drill.bucket is required when the drill is on: the mirrored bucket it restores (a bucket name)";
    drillSample =
      if drillCfg.sample == null || (isInt drillCfg.sample && drillCfg.sample > 0) then
        drillCfg.sample
      else
        fail "drill.sample ${toString drillCfg.sample} is not a whole number above 0 (or null)";
  };

  allLabels =
    component:
    {
      "app.kubernetes.io/name" = "offsite";
      "app.kubernetes.io/component" = component;
    }
    // labels;

  value = n: v: {
    name = n;
    value = v;
  };

  # Every secret a job reads is a file in this directory, from a projected
  # volume: offsite reads X_FILE, so no secret is ever an env value.
  secretDir = "/run/secrets/offsite";
  secretFile = file: "${secretDir}/${file}";
  keyPair = secret: prefix: {
    secret = {
      name = secret;
      items = [
        {
          key = "AWS_ACCESS_KEY_ID";
          path = "${prefix}_access_key_id";
        }
        {
          key = "AWS_SECRET_ACCESS_KEY";
          path = "${prefix}_secret_access_key";
        }
      ];
    };
  };
  oneKey = ref: file: {
    secret = {
      inherit (ref) name;
      items = [
        {
          inherit (ref) key;
          path = file;
        }
      ];
    };
  };

  # env and volume sources of a job's secrets.
  secretsOf =
    {
      rgwSecret,
      ping,
    }:
    {
      env = [
        (value "RGW_ACCESS_KEY_ID_FILE" (secretFile "rgw_access_key_id"))
        (value "RGW_SECRET_ACCESS_KEY_FILE" (secretFile "rgw_secret_access_key"))
        (value "MINIO_ACCESS_KEY_ID_FILE" (secretFile "minio_access_key_id"))
        (value "MINIO_SECRET_ACCESS_KEY_FILE" (secretFile "minio_secret_access_key"))
      ]
      ++ optionalList (ping != null) [ (value "OFFSITE_PING_URL_FILE" (secretFile "ping_url")) ]
      ++ optionalList (checked.pushgatewayUrlSecret != null) [
        (value "OFFSITE_PUSHGATEWAY_URL_FILE" (secretFile "pushgateway_url"))
      ];
      sources = [
        (keyPair rgwSecret "rgw")
        (keyPair destinationSecret "minio")
      ]
      ++ optionalList (ping != null) [ (oneKey ping "ping_url") ]
      ++ optionalList (checked.pushgatewayUrlSecret != null) [
        (oneKey checked.pushgatewayUrlSecret "pushgateway_url")
      ];
    };

  # Settings every job shares.
  commonEnv = [
    (value "RGW_ENDPOINT" checked.rgwEndpoint)
    (value "MINIO_ENDPOINT" checked.minioEndpoint)
    (value "MINIO_REGION" minioRegion)
    (value "MINIO_BUCKET" minioBucket)
    (value "OFFSITE_LOG_FORMAT" "json")
  ]
  ++ optionalList (rgwRegion != "") [ (value "RGW_REGION" rgwRegion) ];

  # Env vars the jobs set themselves, and secrets, which extraEnv may not set.
  reserved = [
    "RGW_ACCESS_KEY_ID"
    "RGW_SECRET_ACCESS_KEY"
    "MINIO_ACCESS_KEY_ID"
    "MINIO_SECRET_ACCESS_KEY"
    "OFFSITE_PING_URL"
    "OFFSITE_PUSHGATEWAY_URL"
    "OFFSITE_AGE_IDENTITY_FILE"
  ];
  checkedExtraEnv =
    env:
    let
      taken = reserved ++ map (e: e.name) env;
      bad = filter (e: !(isAttrs e) || !(isString (e.name or null)) || elem e.name taken) extraEnv;
    in
    if bad == [ ] then
      extraEnv
    else
      fail "extraEnv may not set ${concatStringsSep ", " (map (e: e.name or "<an entry without a name>") bad)}: secrets (a ping or Pushgateway URL too) come from Secrets as files (pingUrlSecret, pushgatewayUrlSecret, sourceSecret, destinationSecret), never as values, which would sit in the Nix store and the manifest; and the job sets the others itself";

  defaultResources = {
    requests = {
      cpu = "100m";
      memory = "256Mi";
      # rclone spills big listings to /tmp (an emptyDir on the node's disk).
      ephemeral-storage = "256Mi";
    };
    limits = {
      cpu = "2";
      memory = "1Gi";
      # Above the /tmp emptyDir's 1Gi, for the logs beside it.
      ephemeral-storage = "2Gi";
    };
  };
  mergedResources = {
    requests = defaultResources.requests // (resources.requests or { });
    limits = defaultResources.limits // (resources.limits or { });
  };

  # One CronJob running offsite with args.
  mkCronJob =
    {
      jobName,
      component,
      schedule,
      args,
      env,
      secrets,
      activeDeadlineSeconds,
      backoffLimit,
      shards ? 1,
    }:
    let
      container = {
        name = "offsite";
        image = checked.image;
        inherit args;
        env = commonEnv ++ env ++ secrets.env ++ checkedExtraEnv (commonEnv ++ env ++ secrets.env);
        resources = mergedResources;
        securityContext = {
          runAsNonRoot = true;
          runAsUser = uid;
          runAsGroup = uid;
          allowPrivilegeEscalation = false;
          readOnlyRootFilesystem = true;
          privileged = false;
          capabilities.drop = [ "ALL" ];
          seccompProfile.type = "RuntimeDefault";
        };
        volumeMounts = [
          {
            name = "tmp";
            mountPath = "/tmp";
          }
          {
            name = "secrets";
            mountPath = secretDir;
            readOnly = true;
          }
        ];
      };
      exitCode = action: codes: {
        inherit action;
        onExitCodes = {
          containerName = container.name;
          operator = "In";
          values = codes;
        };
      };
    in
    {
      apiVersion = "batch/v1";
      kind = "CronJob";
      metadata = {
        name = jobName;
        inherit namespace;
        labels = allLabels component;
      };
      spec = {
        inherit schedule;
        inherit (checked) timeZone;
        inherit
          startingDeadlineSeconds
          successfulJobsHistoryLimit
          failedJobsHistoryLimit
          ;
        # Never two runs at once: a sync racing a copy could delete what the
        # other has not finished checking.
        concurrencyPolicy = "Forbid";
        jobTemplate = {
          metadata.labels = allLabels component;
          spec = {
            inherit activeDeadlineSeconds;
          }
          // (
            if shards > 1 then
              {
                # Every shard at once; Kubernetes sets JOB_COMPLETION_INDEX.
                # Retries count per shard: with one backoffLimit for the
                # Job, one shard's failures would use up the others'.
                completionMode = "Indexed";
                completions = shards;
                parallelism = shards;
                backoffLimitPerIndex = backoffLimit;
              }
            else
              { inherit backoffLimit; }
          )
          // {
            # Retry a failed run (exit 1), but not what a retry cannot fix:
            # 2 configuration, 3 safety stop, 4 verification. With shards,
            # 3 and 4 fail their shard alone (the others' buckets are
            # fine); 2 is everyone's. A node drain does not count as a try.
            podFailurePolicy.rules =
              (
                if shards > 1 then
                  [
                    (exitCode "FailJob" [ 2 ])
                    (exitCode "FailIndex" [
                      3
                      4
                    ])
                  ]
                else
                  [
                    (exitCode "FailJob" [
                      2
                      3
                      4
                    ])
                  ]
              )
              ++ [
                {
                  action = "Ignore";
                  # status is optional since Kubernetes 1.31 (defaults to
                  # True); spelt out for older clusters and kubenix's types.
                  onPodConditions = [
                    {
                      type = "DisruptionTarget";
                      status = "True";
                    }
                  ];
                }
              ];
            template = {
              metadata.labels = allLabels component;
              spec = {
                restartPolicy = "Never";
                automountServiceAccountToken = false;
                enableServiceLinks = false;
                # A deadline or an eviction sends SIGTERM: time for the
                # report, the /fail ping and the metrics before SIGKILL.
                terminationGracePeriodSeconds = 120;
                securityContext = {
                  runAsNonRoot = true;
                  runAsUser = uid;
                  runAsGroup = uid;
                  fsGroup = uid;
                  seccompProfile.type = "RuntimeDefault";
                };
                containers = [ container ];
                volumes = [
                  {
                    name = "tmp";
                    emptyDir.sizeLimit = "1Gi";
                  }
                  {
                    name = "secrets";
                    projected = {
                      # 0440: the job's group (fsGroup) reads them.
                      defaultMode = 288;
                      inherit (secrets) sources;
                    };
                  }
                ];
              };
            };
          };
        };
      };
    };

  # The buckets the mirror copies, as the mirror and verify read them.
  bucketsEnv = [
    (value "RGW_BUCKETS" checked.buckets)
  ]
  ++ optionalList (excludeBuckets != [ ]) [
    (value "RGW_EXCLUDE_BUCKETS" (concatStringsSep "," excludeBuckets))
  ];

  mirrorCronJob = mkCronJob {
    jobName = name;
    component = name;
    inherit (checked) schedule shards activeDeadlineSeconds backoffLimit;
    args = [ "mirror" ];
    env =
      bucketsEnv
      ++ [ (value "OFFSITE_MODE" checked.mode) ]
      ++ optionalList (checked.shards > 1) [ (value "OFFSITE_SHARDS" (toString checked.shards)) ]
      ++ optionalList (checked.maxDurationSeconds != null) [
        (value "OFFSITE_MAX_DURATION" "${toString checked.maxDurationSeconds}s")
      ];
    secrets = secretsOf {
      rgwSecret = sourceSecret;
      ping = checked.pingUrlSecret;
    };
  };

  verifyCronJob =
    if verifyCfg.enable then
      mkCronJob {
        jobName = verifyCfg.name;
        component = verifyCfg.name;
        schedule = cron "verify.schedule" verifyCfg.schedule;
        activeDeadlineSeconds = seconds "verify.activeDeadlineSeconds" verifyCfg.activeDeadlineSeconds;
        backoffLimit = count "verify.backoffLimit" verifyCfg.backoffLimit;
        args = [
          "verify"
          "rgw"
        ]
        ++ verifyCfg.extraArgs;
        # The mirror's buckets; verify reads every shard's report.
        env = bucketsEnv;
        secrets = secretsOf {
          rgwSecret = sourceSecret;
          ping = checked.verifyPingUrlSecret;
        };
      }
    else
      null;

  drillCronJob =
    if drillCfg.enable then
      mkCronJob {
        jobName = drillCfg.name;
        component = drillCfg.name;
        schedule = cron "drill.schedule" drillCfg.schedule;
        activeDeadlineSeconds = seconds "drill.activeDeadlineSeconds" drillCfg.activeDeadlineSeconds;
        backoffLimit = count "drill.backoffLimit" drillCfg.backoffLimit;
        args = [
          "drill"
          "rgw"
          "--bucket"
          checked.drillBucket
        ]
        ++ optionalList (checked.drillSample != null) [
          "--sample"
          (toString checked.drillSample)
        ]
        ++ drillCfg.extraArgs;
        env = [ ];
        secrets = secretsOf {
          rgwSecret = drillCfg.sourceSecret;
          ping = checked.drillPingUrlSecret;
        };
      }
    else
      null;

  enabled = filter (c: c != null) [
    mirrorCronJob
    verifyCronJob
    drillCronJob
  ];

  # The Secrets the enabled jobs read, each once, with every key read.
  keyPairShape = secret: holds: {
    name = secret;
    keys = [
      "AWS_ACCESS_KEY_ID"
      "AWS_SECRET_ACCESS_KEY"
    ];
    inherit holds;
  };
  refShape = ref: holds: {
    inherit (ref) name;
    keys = [ ref.key ];
    inherit holds;
  };
  shapes =
    [
      (keyPairShape sourceSecret "Ceph RGW credentials that can list and read every bucket to mirror")
      (keyPairShape destinationSecret "MinIO credentials that can list, read, write and delete in ${minioBucket}")
    ]
    ++ optionalList (drillCronJob != null && drillCfg.sourceSecret != sourceSecret) [
      (keyPairShape drillCfg.sourceSecret "Ceph RGW credentials that can create, write, read and delete the drill's scratch buckets (offsite-drill-*) and read ${checked.drillBucket}")
    ]
    ++ optionalList (checked.pingUrlSecret != null) [
      (refShape checked.pingUrlSecret "the mirror's ping URL")
    ]
    ++ optionalList (verifyCronJob != null && checked.verifyPingUrlSecret != null) [
      (refShape checked.verifyPingUrlSecret "the verify job's ping URL")
    ]
    ++ optionalList (drillCronJob != null && checked.drillPingUrlSecret != null) [
      (refShape checked.drillPingUrlSecret "the drill's ping URL")
    ]
    ++ optionalList (checked.pushgatewayUrlSecret != null) [
      (refShape checked.pushgatewayUrlSecret "the Pushgateway URL")
    ];
  # Shapes naming the same Secret become one, with all their keys.
  merged = builtins.foldl' (
    acc: s:
    if any (a: a.name == s.name) acc then
      map (
        a:
        if a.name == s.name then
          a
          // {
            keys = a.keys ++ filter (k: !(elem k a.keys)) s.keys;
            holds = "${a.holds}; ${s.holds}";
          }
        else
          a
      ) acc
    else
      acc ++ [ s ]
  ) [ ] shapes;
in
{
  cronJob = mirrorCronJob;
  inherit verifyCronJob drillCronJob;
  cronJobs = listToAttrs (
    map (c: {
      inherit (c.metadata) name;
      value = c;
    }) enabled
  );
  secrets = map (s: s // { inherit namespace; }) merged;
}
