# secretsFor: the Kubernetes Secrets the rgw-mirror CronJobs read, from
# decrypted SOPS values, with nothing but builtins. The flake exports it as
# lib.secretsFor; ./examples/rgw-mirror-secrets.nix uses it in kubenix.
#   secretsFor { decrypted = builtins.fromJSON (builtins.readFile <decrypted>); }
#     -> { <name> = <v1 Secret>; }
# The SOPS keys, as the plan keeps them (one MinIO user per bucket):
#   minio_rgw_access_key_id, minio_rgw_secret_access_key
#                         -> rgw-mirror-s3-credentials (required)
#   rgw_access_key_id, rgw_secret_access_key
#                         -> s3-credentials (RGW, read; when present)
#   rgw_drill_access_key_id, rgw_drill_secret_access_key
#                         -> rgw-drill-s3-credentials (RGW, scratch buckets; when present)
#   offsite_ping_rgw_mirror, _rgw_mirror_verify, _rgw_mirror_drill
#                         -> offsite-ping-urls, keys rgw-mirror, rgw-mirror-verify,
#                            rgw-mirror-drill (those present)
#   offsite_pushgateway_url -> offsite-pushgateway, key url (when present)
# minio_etcd_access_key_id and minio_etcd_secret_access_key are the NixOS
# nodes' (sops-nix, services.offsite.etcdOffload); no Secret is made of them.
# The values end up in the Secrets' stringData: evaluate this with
# `nix eval` into files (make manifests), never into a derivation, which
# would put them into the Nix store.
{
  decrypted,
  namespace ? "applications",
}:
let
  inherit (builtins)
    all
    any
    attrNames
    filter
    isAttrs
    isString
    listToAttrs
    match
    throw
    ;
  fail = msg: throw "secretsFor: ${msg}";
  value =
    key:
    let
      v = decrypted.${key};
    in
    if isString v && match "[[:space:]]*" v == null then v else fail "${key} is empty or not a string";
  has = key: decrypted ? ${key};
  secret = name: stringData: {
    inherit name;
    value = {
      apiVersion = "v1";
      kind = "Secret";
      metadata = {
        inherit name namespace;
        labels."app.kubernetes.io/name" = "offsite";
      };
      type = "Opaque";
      inherit stringData;
    };
  };
  keyPair = prefix: {
    AWS_ACCESS_KEY_ID = value "${prefix}_access_key_id";
    AWS_SECRET_ACCESS_KEY = value "${prefix}_secret_access_key";
  };
  pairPresent =
    prefix:
    let
      both = [
        "${prefix}_access_key_id"
        "${prefix}_secret_access_key"
      ];
    in
    if all has both then
      true
    else if any has both then
      fail "${prefix}_access_key_id and ${prefix}_secret_access_key go together"
    else
      false;
  pings = filter (p: has p.sops) [
    {
      sops = "offsite_ping_rgw_mirror";
      key = "rgw-mirror";
    }
    {
      sops = "offsite_ping_rgw_mirror_verify";
      key = "rgw-mirror-verify";
    }
    {
      sops = "offsite_ping_rgw_mirror_drill";
      key = "rgw-mirror-drill";
    }
  ];
in
if !(isAttrs decrypted) then
  fail "decrypted is not an attribute set (builtins.fromJSON of `sops -d --output-type json`)"
else if !(pairPresent "minio_rgw") then
  fail "minio_rgw_access_key_id and minio_rgw_secret_access_key are required (the MinIO user of homelab-backup-rgw); the file has ${toString (attrNames decrypted)}"
else
  listToAttrs (
    [ (secret "rgw-mirror-s3-credentials" (keyPair "minio_rgw")) ]
    ++ (if pairPresent "rgw" then [ (secret "s3-credentials" (keyPair "rgw")) ] else [ ])
    ++ (if pairPresent "rgw_drill" then [ (secret "rgw-drill-s3-credentials" (keyPair "rgw_drill")) ] else [ ])
    ++ (
      if pings == [ ] then
        [ ]
      else
        [
          (secret "offsite-ping-urls" (
            listToAttrs (
              map (p: {
                name = p.key;
                value = value p.sops;
              }) pings
            )
          ))
        ]
    )
    ++ (
      if has "offsite_pushgateway_url" then
        [ (secret "offsite-pushgateway" { url = value "offsite_pushgateway_url"; }) ]
      else
        [ ]
    )
  )
