{
  # The stand-in for nixpkgs that nix/check.sh passes with
  # `--override-input nixpkgs path:nix/check/nixpkgs`, so flake.nix can be
  # evaluated offline. See ./pkgs.nix and ./lib.nix.
  description = "offline stand-in for the parts of nixpkgs offsite uses";

  outputs =
    { self }:
    {
      lib = import ./lib.nix;
      legacyPackages =
        self.lib.genAttrs
          [
            "x86_64-linux"
            "aarch64-linux"
          ]
          (system: import ./pkgs.nix { inherit system; });
    };
}
