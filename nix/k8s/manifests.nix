# What make manifests renders (nix/k8s/manifests.sh), with nothing but
# builtins: the enabled CronJobs of ./cronjob.nix for the settings in
# configFile, and the Secrets ./secrets.nix makes of the decrypted SOPS
# values in secretsFile. Both files are read at evaluation time, nothing is
# copied into the Nix store. Returns
#   { files = "<file name>\t<JSON>\n..."; missing = "<Secret>: <keys>\n..."; }
# where `missing` lists the Secrets (or keys) the CronJobs read that the
# SOPS values do not provide: yours to create.
{
  configFile,
  secretsFile,
}:
let
  inherit (builtins)
    attrValues
    concatStringsSep
    filter
    fromJSON
    readFile
    toJSON
    ;
  settings = import configFile;
  namespace = settings.namespace or "applications";
  built = import ./cronjob.nix settings;
  secrets = import ./secrets.nix {
    decrypted = fromJSON (readFile secretsFile);
    inherit namespace;
  };
  objects = attrValues built.cronJobs ++ attrValues secrets;
  fileName = o: "${o.metadata.namespace}_${o.kind}_${o.metadata.name}.json";
  missingKeys = s: filter (k: !(secrets ? ${s.name} && secrets.${s.name}.stringData ? ${k})) s.keys;
  missing = filter (s: missingKeys s != [ ]) built.secrets;
in
{
  files = concatStringsSep "" (map (o: "${fileName o}\t${toJSON o}\n") objects);
  missing = concatStringsSep "" (
    map (s: "${s.name} (${concatStringsSep ", " (missingKeys s)}): ${s.holds}\n") missing
  );
}
