# The rgw-mirror CronJob as plain data, with nothing but builtins: no
# nixpkgs, no kubenix. The flake exports it as lib.mkRgwMirrorCronJob;
# ./kubenix.nix wraps it for kubenix. Returns
#   { cronJob = <batch/v1 CronJob>; secrets = [ { name, namespace, keys, holds } ]; }
# where `secrets` describes the two Secrets the job reads (they are not
# manifests: create them with sops, sealed-secrets or kubectl).
{
  # The offsite image pinned by digest: "registry/offsite@sha256:<64 hex>".
  image,
  # Source Ceph RGW endpoint, e.g. the rook-ceph-rgw Service in the cluster.
  rgwEndpoint,
  # Destination MinIO endpoint, e.g. "http://10.10.10.209:9000".
  minioEndpoint,
  name ? "rgw-mirror",
  namespace ? "applications",
  schedule ? "0 4 * * *",
  timeZone ? "Etc/UTC",
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
  # More env vars, e.g. [ { name = "OFFSITE_PING_URL"; value = "..."; } ].
  extraEnv ? [ ],
  resources ? {
    requests = {
      cpu = "100m";
      memory = "256Mi";
    };
    limits = {
      cpu = "2";
      memory = "1Gi";
    };
  },
  # Pods that share the buckets, for when one is not enough: above 1 the
  # Job is Indexed, one pod per shard at once, and each mirrors the
  # buckets that hash to its JOB_COMPLETION_INDEX (OFFSITE_SHARDS). An
  # OFFSITE_PING_URL then needs {shard} in it: a check per shard.
  shards ? 1,
  # Seconds after which the run starts no new transfer, lets the running
  # ones finish and writes its report, unfinished buckets incomplete
  # (OFFSITE_MAX_DURATION); under activeDeadlineSeconds, whose kill leaves
  # less time for that. null for none.
  maxDurationSeconds ? null,
  startingDeadlineSeconds ? 3600,
  activeDeadlineSeconds ? 6 * 3600,
  backoffLimit ? 2,
  successfulJobsHistoryLimit ? 3,
  failedJobsHistoryLimit ? 5,
  uid ? 65532,
  labels ? { },
}:
let
  inherit (builtins) concatStringsSep match throw isList isString all;

  fail = msg: throw "mkRgwMirrorCronJob: ${msg}";
  url = var: v: if match "https?://[^/@]+(/.*)?" v != null then v else fail "${var} ${v} is not an http:// or https:// URL without credentials";
  checked = {
    image =
      if match "[^@]+@sha256:[0-9a-f]{64}" image != null then
        image
      else
        fail "image ${image} is not pinned by digest (registry/offsite@sha256:<64 hex digits>): a tag can move under a backup job";
    mode = if builtins.elem mode [ "copy" "sync" "auto" ] then mode else fail "mode ${mode} is not copy, sync or auto";
    # Five fields or a macro; no TZ= prefix, timeZone says that.
    schedule =
      if
        match "[^ =]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+" schedule != null
        || match "@(yearly|annually|monthly|weekly|daily|midnight|hourly)" schedule != null
      then
        schedule
      else
        fail "schedule \"${schedule}\" is not a five-field cron expression or @daily-style macro (set the zone with timeZone)";
    buckets =
      if buckets == "*" then
        "*"
      else if isList buckets && buckets != [ ] && all (b: isString b && b != "*") buckets then
        concatStringsSep "," buckets
      else
        fail "buckets is required: a non-empty list of bucket names (RGW_BUCKETS=a,b), or \"*\" for every bucket the credentials list (RGW_BUCKETS=*)";
    shards =
      if builtins.isInt shards && shards >= 1 && shards <= 1000 then
        shards
      else
        fail "shards ${toString shards} is not a whole number from 1 to 1000";
    maxDurationSeconds =
      if maxDurationSeconds == null then
        null
      else if builtins.isInt maxDurationSeconds && maxDurationSeconds > 0 && maxDurationSeconds < activeDeadlineSeconds then
        maxDurationSeconds
      else
        fail "maxDurationSeconds ${toString maxDurationSeconds} is not a whole number of seconds under activeDeadlineSeconds (${toString activeDeadlineSeconds})";
    rgwEndpoint = url "rgwEndpoint" rgwEndpoint;
    minioEndpoint = url "minioEndpoint" minioEndpoint;
  };

  allLabels = {
    "app.kubernetes.io/name" = "offsite";
    "app.kubernetes.io/component" = name;
  }
  // labels;

  value = n: v: {
    name = n;
    value = v;
  };
  fromSecret = n: secret: key: {
    name = n;
    valueFrom.secretKeyRef = {
      name = secret;
      inherit key;
    };
  };
  optionalList = cond: xs: if cond then xs else [ ];

  env = [
    (value "RGW_ENDPOINT" checked.rgwEndpoint)
    (fromSecret "RGW_ACCESS_KEY_ID" sourceSecret "AWS_ACCESS_KEY_ID")
    (fromSecret "RGW_SECRET_ACCESS_KEY" sourceSecret "AWS_SECRET_ACCESS_KEY")
    (value "MINIO_ENDPOINT" checked.minioEndpoint)
    (fromSecret "MINIO_ACCESS_KEY_ID" destinationSecret "AWS_ACCESS_KEY_ID")
    (fromSecret "MINIO_SECRET_ACCESS_KEY" destinationSecret "AWS_SECRET_ACCESS_KEY")
    (value "MINIO_REGION" minioRegion)
    (value "MINIO_BUCKET" minioBucket)
    (value "RGW_BUCKETS" checked.buckets)
    (value "OFFSITE_MODE" checked.mode)
    (value "OFFSITE_LOG_FORMAT" "json")
  ]
  ++ optionalList (checked.shards > 1) [ (value "OFFSITE_SHARDS" (toString checked.shards)) ]
  ++ optionalList (checked.maxDurationSeconds != null) [
    (value "OFFSITE_MAX_DURATION" "${toString checked.maxDurationSeconds}s")
  ]
  ++ optionalList (rgwRegion != "") [ (value "RGW_REGION" rgwRegion) ]
  ++ optionalList (excludeBuckets != [ ]) [
    (value "RGW_EXCLUDE_BUCKETS" (concatStringsSep "," excludeBuckets))
  ]
  ++ extraEnv;

  container = {
    name = "offsite";
    image = checked.image;
    args = [ "mirror" ];
    inherit env resources;
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
    ];
  };
in
{
  cronJob = {
    apiVersion = "batch/v1";
    kind = "CronJob";
    metadata = {
      inherit name namespace;
      labels = allLabels;
    };
    spec = {
      inherit (checked) schedule;
      inherit
        timeZone
        startingDeadlineSeconds
        successfulJobsHistoryLimit
        failedJobsHistoryLimit
        ;
      # Never two mirrors at once: a sync racing a copy could delete what the
      # other has not finished checking.
      concurrencyPolicy = "Forbid";
      jobTemplate = {
        metadata.labels = allLabels;
        spec = {
          inherit backoffLimit activeDeadlineSeconds;
        }
        // (
          if checked.shards > 1 then
            {
              # Every shard at once; Kubernetes sets JOB_COMPLETION_INDEX.
              completionMode = "Indexed";
              completions = checked.shards;
              parallelism = checked.shards;
            }
          else
            { }
        )
        // {
          # Retry a failed run (exit 1), but not what a retry cannot fix:
          # 2 configuration, 3 safety stop, 4 verification. A node drain
          # does not count against backoffLimit.
          podFailurePolicy.rules = [
            {
              action = "FailJob";
              onExitCodes = {
                containerName = container.name;
                operator = "In";
                values = [
                  2
                  3
                  4
                ];
              };
            }
            {
              action = "Ignore";
              # status is optional since Kubernetes 1.31 (defaults to True);
              # spelt out for older clusters and kubenix's typed options.
              onPodConditions = [
                {
                  type = "DisruptionTarget";
                  status = "True";
                }
              ];
            }
          ];
          template = {
            metadata.labels = allLabels;
            spec = {
              restartPolicy = "Never";
              automountServiceAccountToken = false;
              enableServiceLinks = false;
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
              ];
            };
          };
        };
      };
    };
  };

  secrets = [
    {
      name = sourceSecret;
      inherit namespace;
      keys = [
        "AWS_ACCESS_KEY_ID"
        "AWS_SECRET_ACCESS_KEY"
      ];
      holds = "Ceph RGW credentials that can list and read every bucket to mirror";
    }
    {
      name = destinationSecret;
      inherit namespace;
      keys = [
        "AWS_ACCESS_KEY_ID"
        "AWS_SECRET_ACCESS_KEY"
      ];
      holds = "MinIO credentials that can list, read, write and delete in ${minioBucket}";
    }
  ];
}
