# Example settings for make manifests (MANIFESTS_CONFIG): the arguments of
# nix/k8s/cronjob.nix. The image digest is made up; yours is in
# `skopeo inspect docker://<registry>/offsite:<tag> --format '{{.Digest}}'`.
{
  image = "registry.lan/offsite@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  rgwEndpoint = "http://rook-ceph-rgw-objectstore.rook-ceph.svc";
  minioEndpoint = "http://10.10.10.209:9000";
  buckets = [
    "photos"
    "nextcloud"
    "paperless"
  ];
  # 04:00 local, after the database dumps and Velero.
  timeZone = "Europe/Berlin";
  mode = "copy";
  pingUrlSecret = {
    name = "offsite-ping-urls";
    key = "rgw-mirror";
  };
  pushgatewayUrlSecret = {
    name = "offsite-pushgateway";
    key = "url";
  };
  verify.pingUrlSecret = {
    name = "offsite-ping-urls";
    key = "rgw-mirror-verify";
  };
  drill = {
    enable = true;
    bucket = "paperless";
    sample = 200;
    sourceSecret = "rgw-drill-s3-credentials";
    pingUrlSecret = {
      name = "offsite-ping-urls";
      key = "rgw-mirror-drill";
    };
  };
}
