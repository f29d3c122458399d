# The OCI image for the rgw-mirror CronJob: offsite, CA certificates and time
# zones, nothing else (no shell), running as a non-root uid.
#   nix build .#image && docker load < result
{
  lib,
  dockerTools,
  cacert,
  tzdata,
  offsite,
}:
dockerTools.buildLayeredImage {
  name = "offsite";
  tag = offsite.version;
  contents = [
    cacert
    tzdata
  ];
  # rclone may spill to temp files; the CronJob mounts an emptyDir over it.
  extraCommands = "mkdir -m 1777 tmp";
  config = {
    Entrypoint = [ (lib.getExe offsite) ];
    User = "65532:65532";
    Env = [
      "SSL_CERT_FILE=${cacert}/etc/ssl/certs/ca-bundle.crt"
      "ZONEINFO=${tzdata}/share/zoneinfo"
      "HOME=/tmp"
      "TMPDIR=/tmp"
    ];
  };
}
