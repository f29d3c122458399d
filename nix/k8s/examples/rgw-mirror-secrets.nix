# A kubenix module in the plan's shape: the Secrets the rgw-mirror
# CronJobs read, made by secretsFor (../secrets.nix) from the decrypted
# SOPS file, which the module gets as the argument `sopsSecrets`:
#   specialArgs.sopsSecrets = builtins.fromJSON (builtins.readFile "/run/user/1000/secrets.json");
# with that file written by `sops -d --output-type json secrets.enc.yaml`
# and removed afterwards. Render with kubenix into files, never into a
# derivation: Secrets hold their values, which the Nix store must not.
# make manifests renders the same Secrets without kubenix.
{ sopsSecrets, ... }:
{
  kubernetes.resources.secrets = builtins.mapAttrs (_: s: {
    inherit (s) metadata type stringData;
  }) (import ../secrets.nix { decrypted = sopsSecrets; });
}
