{
  description = "offsite: keep a homelab's irreplaceable state off the cluster (RGW mirror, etcd snapshot offload to MinIO)";

  # No flake.lock is committed: `nix flake lock` (or the first `nix build`)
  # pins nixpkgs on your machine; offline CI overrides this input anyway.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # Control planes and the Raspberry Pi may be ARM.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = self.shortRev or self.dirtyShortRev or "dirty";
    in
    {
      packages = forAllSystems (pkgs: rec {
        offsite = pkgs.callPackage ./nix/package.nix { inherit version; };
        default = offsite;
        # The CronJob image: nix build .#image && docker load < result
        image = pkgs.callPackage ./nix/image.nix { inherit offsite; };
      });

      # An ad-hoc run from a laptop: nix run . -- mirror
      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });

      # services.offsite.etcdOffload, using this flake's offsite by default.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.offsite.etcdOffload.package =
            lib.mkDefault
              self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      # The rgw-mirror CronJobs (mirror, verify, drill) as data, and as a
      # kubenix module; secretsFor makes the Secrets they read from
      # decrypted SOPS values (nix/k8s/examples/rgw-mirror-secrets.nix).
      lib.mkRgwMirrorCronJob = import ./nix/k8s/cronjob.nix;
      lib.secretsFor = import ./nix/k8s/secrets.nix;
      kubenixModules.default = ./nix/k8s/kubenix.nix;

      # Prometheus alert rules for offsite's metrics:
      # services.prometheus.ruleFiles = [ offsite.lib.alertRules ];
      lib.alertRules = ./docs/prometheus-alerts.yml;
      # A Grafana dashboard for the same metrics (import it, or provision it:
      # services.grafana.provision.dashboards.settings.providers).
      lib.grafanaDashboard = ./docs/grafana-dashboard.json;

      checks = forAllSystems (pkgs: {
        # The build, with the unit tests (-short).
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        # A NixOS VM: the service ships a snapshot and its sidecar.
        offload = pkgs.testers.runNixOSTest (import ./nix/tests/offload.nix { inherit self; });
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.go_1_26
            pkgs.gopls
            pkgs.gnumake
            pkgs.git
            # systemd-analyze, for make check-nix
            pkgs.systemd
          ];
        };
      });
    };
}
