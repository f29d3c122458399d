# A stand-in for the nixpkgs package set, as much of it as flake.nix and
# nix/*.nix use. Every function checks its argument names against the ones
# nixpkgs accepts (so a misspelt argument fails here, not on a user's
# machine) and returns a real derivation that is never meant to be built:
# `nix flake check --no-build` computes its .drv path, nothing more.
# runNixOSTest evaluates the test's nodes with the stand-in NixOS.
{ system }:
let
  lib = import ./lib.nix;
  nixos = import ./nixos.nix { inherit lib; };

  unbuildable =
    name: env:
    derivation (
      {
        inherit name system;
        builder = "/bin/sh";
        args = [
          "-c"
          "echo 'stand-in nixpkgs: ${name} cannot be built offline' >&2; exit 1"
        ];
      }
      // env
    );

  package =
    name: mainProgram:
    unbuildable name { }
    // {
      pname = name;
      version = "0";
      meta = { inherit mainProgram; };
    };

  # Calls a module-style function with the arguments it names.
  callWith =
    f: args:
    let
      formals = builtins.functionArgs f;
    in
    f (if formals == { } then args else builtins.intersectAttrs formals args);

  accepts =
    fn: allowed: args:
    let
      unknown = builtins.filter (n: !(builtins.elem n allowed)) (builtins.attrNames args);
    in
    if unknown == [ ] then
      args
    else
      throw "stand-in nixpkgs: ${fn} does not take ${lib.concatStringsSep ", " unknown}";

  requires =
    fn: names: args:
    let
      missing = builtins.filter (n: !(args ? ${n})) names;
    in
    if missing == [ ] then
      args
    else
      throw "stand-in nixpkgs: ${fn} needs ${lib.concatStringsSep ", " missing}";

  # buildGoModule's arguments (pkgs/build-support/go/module.nix) plus the
  # stdenv.mkDerivation ones offsite may pass.
  goModuleArgs = [
    "pname"
    "version"
    "src"
    "vendorHash"
    "proxyVendor"
    "modRoot"
    "subPackages"
    "excludedPackages"
    "ldflags"
    "tags"
    "env"
    "CGO_ENABLED"
    "checkFlags"
    "checkPhase"
    "doCheck"
    "preCheck"
    "postInstall"
    "nativeBuildInputs"
    "buildInputs"
    "nativeCheckInputs"
    "overrideModAttrs"
    "passthru"
    "meta"
    "__structuredAttrs"
  ];

  buildGoModule =
    fnOrArgs:
    let
      args =
        requires "buildGoModule"
          [
            "pname"
            "version"
            "src"
            "vendorHash"
          ]
          (
            accepts "buildGoModule" goModuleArgs (
              if builtins.isFunction fnOrArgs then lib.fix fnOrArgs else fnOrArgs
            )
          );
      sri = builtins.match "sha256-[A-Za-z0-9+/]{43}=" (toString args.vendorHash);
    in
    if args.vendorHash != null && sri == null then
      throw "stand-in nixpkgs: buildGoModule: vendorHash ${toString args.vendorHash} is not a sha256 SRI hash"
    else
      unbuildable "${args.pname}-${args.version}" {
        inherit (args) vendorHash;
        subPackages = args.subPackages or [ ];
        ldflags = args.ldflags or [ ];
      }
      // {
        inherit (args) pname version;
        meta = args.meta or { };
        passthru = args.passthru or { };
      };

  pkgs = rec {
    inherit lib system;
    stdenv.hostPlatform = {
      inherit system;
      isLinux = true;
      isDarwin = false;
    };

    callPackage =
      f: overrides:
      let
        fn = if builtins.isFunction f then f else import f;
        auto = builtins.intersectAttrs (builtins.functionArgs fn) pkgs;
        missing = builtins.filter (n: !(builtins.functionArgs fn).${n} && !(auto ? ${n}) && !(overrides ? ${n})) (
          builtins.attrNames (builtins.functionArgs fn)
        );
      in
      if missing != [ ] then
        throw "stand-in nixpkgs: callPackage: no package named ${lib.concatStringsSep ", " missing}"
      else
        fn (auto // overrides);

    inherit buildGoModule;
    buildGo126Module = buildGoModule;

    go = package "go-1.26" "go";
    go_1_26 = go;
    gopls = package "gopls" "gopls";
    git = package "git" "git";
    gnumake = package "gnumake" "make";
    nix = package "nix" "nix";
    systemd = package "systemd" "systemctl";
    rclone = package "rclone" "rclone";
    curl = package "curl" "curl";
    coreutils = package "coreutils" "coreutils";
    cacert = package "cacert" null;
    tzdata = package "tzdata" null;

    dockerTools.buildLayeredImage =
      args:
      let
        a =
          requires "dockerTools.buildLayeredImage" [ "name" ] (
            accepts "dockerTools.buildLayeredImage" [
              "name"
              "tag"
              "contents"
              "config"
              "created"
              "extraCommands"
              "fakeRootCommands"
              "enableFakechroot"
              "maxLayers"
              "architecture"
              "includeStorePaths"
              "fromImage"
              "uid"
              "gid"
              "uname"
              "gname"
              "passthru"
              "meta"
            ] args
          );
        # OCI image config keys (image-spec config.md), capitalised as there.
        config = accepts "dockerTools.buildLayeredImage config" [
          "User"
          "ExposedPorts"
          "Env"
          "Entrypoint"
          "Cmd"
          "Volumes"
          "WorkingDir"
          "Labels"
          "StopSignal"
        ] (a.config or { });
      in
      unbuildable "${a.name}.tar.gz" { config = builtins.toJSON config; };

    mkShell =
      args:
      unbuildable (args.name or "nix-shell") (
        builtins.mapAttrs (_: toString) (
          accepts "mkShell" [
            "name"
            "packages"
            "buildInputs"
            "nativeBuildInputs"
            "inputsFrom"
            "shellHook"
            "env"
          ] args
        )
      );

    writeShellScriptBin = name: text: package name name;

    testers.runNixOSTest =
      testModule:
      let
        test =
          accepts "runNixOSTest" [
            "name"
            "nodes"
            "testScript"
            "meta"
            "globalTimeout"
            "skipLint"
            "skipTypeCheck"
            "extraPythonPackages"
            "interactive"
            "defaults"
          ] (if builtins.isFunction testModule then callWith testModule testArgs else testModule);
        testArgs = {
          inherit lib pkgs;
          hostPkgs = pkgs;
          config = test;
          nodes = nodeConfigs;
        };
        evalNode =
          name: node:
          nixos.eval {
            modules = [
              node
              { networking.hostName = lib.mkDefault name; }
            ];
            inherit pkgs;
          };
        nodes = builtins.mapAttrs evalNode (requires "runNixOSTest" [ "nodes" ] test).nodes;
        nodeConfigs = builtins.mapAttrs (_: n: n.config) nodes;
        script = if builtins.isFunction test.testScript then callWith test.testScript testArgs else test.testScript;
      in
      if !(builtins.isString script) then
        throw "stand-in nixpkgs: runNixOSTest: testScript must be a string"
      else
        unbuildable "vm-test-run-${test.name}" {
          units = builtins.toJSON (builtins.mapAttrs (_: n: n.units) nodes);
          testScript = script;
        };
  };
in
pkgs
