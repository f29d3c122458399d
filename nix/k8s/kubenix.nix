# kubenix module for the rgw-mirror CronJobs: offsite.rgwMirror takes the
# arguments of ./cronjob.nix and puts the mirror CronJob, and its verify and
# drill CronJobs when on, into kubernetes.resources.cronJobs. The Secrets
# they read are yours to create: ./secrets.nix makes them from decrypted
# SOPS values (see ./examples/rgw-mirror-secrets.nix), or use
# sealed-secrets; `secrets` in ./cronjob.nix lists them.
{ config, lib, ... }:
let
  cfg = config.offsite.rgwMirror;
  inherit (lib) mkOption types;
  settings =
    if cfg.shards == null then
      cfg.settings
    else if (cfg.settings.shards or cfg.shards) != cfg.shards then
      throw "offsite.rgwMirror: shards = ${toString cfg.shards} and settings.shards = ${toString cfg.settings.shards} disagree; set one"
    else
      cfg.settings // { inherit (cfg) shards; };
  built = import ./cronjob.nix settings;
in
{
  options.offsite.rgwMirror = {
    enable = lib.mkEnableOption "the offsite rgw-mirror CronJobs (Ceph RGW to MinIO, and its verify and drill)";

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
          pingUrlSecret = { name = "offsite-ping-urls"; key = "rgw-mirror"; };
          verify.pingUrlSecret = { name = "offsite-ping-urls"; key = "rgw-mirror-verify"; };
          drill = { enable = true; bucket = "paperless"; sample = 200; };
        }
      '';
      description = ''
        Arguments of nix/k8s/cronjob.nix (the flake's lib.mkRgwMirrorCronJob):
        image (pinned by digest), rgwEndpoint, minioEndpoint, buckets (a
        list of names, or "*" for every bucket the credentials list) and
        timeZone are required; verify and drill configure their CronJobs.
      '';
    };

    shards = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 3;
      description = ''
        Pods that share the buckets, for when one is not enough (the same as
        settings.shards; null leaves that, or 1). Above 1 the Job is Indexed
        (completions = parallelism = shards, retries per shard) and each pod
        mirrors the buckets that hash to its index, writing its own report;
        verify rgw reads every shard's. A ping URL then needs {shard} in it,
        or one URL per shard: each shard pings its own check.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    kubernetes.resources.cronJobs = builtins.mapAttrs (_: c: { inherit (c) metadata spec; }) built.cronJobs;
  };
}
