# offsite, built with buildGoModule. The flake calls it; any nixpkgs can:
#   pkgs.callPackage ./nix/package.nix { version = "1.0.0"; }
{
  lib,
  buildGo126Module,
  version ? "dev",
}:
buildGo126Module {
  pname = "offsite";
  inherit version;

  # The repository without what never goes into the build (in a flake,
  # only git-tracked files are there to begin with). nix/ goes too: its Go
  # test checks the manifests and would add k8s.io/api to the vendor tree.
  # nix/vendor-hash.sh leaves out the same.
  src = lib.cleanSourceWith {
    src = ../.;
    filter =
      path: _type:
      path != toString ./.
      && !(builtins.elem (baseNameOf path) [
        ".git"
        ".cache"
        "result"
      ]);
  };

  # The hash of the `go mod vendor` tree of go.mod/go.sum and every package's
  # imports. After a dependency change run nix/vendor-hash.sh --write (it runs
  # `go mod vendor` and `nix hash path`, offline), or build once with
  # lib.fakeHash here and copy the hash Nix reports.
  vendorHash = "sha256-nOUWvzAt65L76Vg0okP1F/7G+bWMOjvymI0UxZ8jB1w=";

  subPackages = [ "cmd/offsite" ];
  env.CGO_ENABLED = 0;
  ldflags = [
    "-s"
    "-w"
    "-X main.Version=${version}"
  ];
  # Every package's unit tests. buildGoModule's own check phase tests only
  # subPackages, cmd/offsite here, so it is spelled out. Integration tests
  # start MinIO, which the build sandbox cannot: -short skips them, and they
  # run in CI instead. As buildGoModule does: no -trimpath (tests may read
  # files next to their source) and no vet (make lint runs it).
  checkPhase = ''
    runHook preCheck
    export GOFLAGS=''${GOFLAGS//-trimpath/}
    go test -short -vet=off -p "$NIX_BUILD_CORES" ./...
    runHook postCheck
  '';

  meta = {
    description = "Keep a homelab's irreplaceable state off the cluster: RGW mirror and etcd snapshot offload to MinIO";
    mainProgram = "offsite";
    platforms = lib.platforms.linux;
  };
}
