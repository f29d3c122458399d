# kubenix module for the rgw-mirror CronJob: offsite.rgwMirror takes the
# arguments of ./cronjob.nix and puts the CronJob into
# kubernetes.resources.cronJobs. The two Secrets it reads are yours to
# create (sops-nix, sealed-secrets); see `secrets` in ./cronjob.nix.
{ config, lib, ... }:
let
  cfg = config.offsite.rgwMirror;
  inherit (lib) mkOption types;
  built = import ./cronjob.nix (cfg.settings // { inherit (cfg) shards; });
in
{
  options.offsite.rgwMirror = {
    enable = lib.mkEnableOption "the offsite rgw-mirror CronJob (Ceph RGW to MinIO)";

    settings = mkOption {
      type = types.attrs;
      default = { };
      example = lib.literalExpression ''
        {
          image = "registry.lan/offsite@sha256:...";
          rgwEndpoint = "http://rook-ceph-rgw-objectstore.rook-ceph.svc";
          minioEndpoint = "http://10.10.10.209:9000";
          buckets = [ "photos" "nextcloud" ]; # or "*" for every bucket
          timeZone = "Europe/Berlin";
          mode = "auto";
        }
      '';
      description = ''
        Arguments of nix/k8s/cronjob.nix (the flake's lib.mkRgwMirrorCronJob):
        image (pinned by digest), rgwEndpoint, minioEndpoint and buckets (a
        list of names, or "*" for every bucket the credentials list) are
        required. Sharding is the shards option, not a setting.
      '';
    };

    shards = mkOption {
      type = types.ints.positive;
      default = 1;
      example = 3;
      description = ''
        Pods that share the buckets, for when one is not enough. Above 1 the
        Job is Indexed (completions = parallelism = shards) and each pod
        mirrors the buckets that hash to its index, writing its own report;
        verify rgw reads every shard's. A ping URL (OFFSITE_PING_URL) then
        needs {shard} in it, or one URL per shard: each shard pings its
        own check.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    kubernetes.resources.cronJobs.${built.cronJob.metadata.name} = {
      inherit (built.cronJob) metadata spec;
    };
  };
}
