# Tests of the stand-in module system against nixpkgs' semantics, the ones
# nix/module.nix relies on. Evaluates to true or throws naming the case:
#   nix-instantiate --eval --strict nix/check/lib-test.nix
let
  lib = import ./nixpkgs/lib.nix;
  inherit (lib) mkOption types;

  # (A misspelt mkOption argument is a Nix error, not a throw: its pattern
  # has no `...`. It cannot be tested here, and cannot pass unnoticed.)
  eval = modules: (lib.evalModules { inherit modules; }).config;
  fails = x: !(builtins.tryEval (builtins.deepSeq x x)).success;

  decls = {
    options = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      name = mkOption {
        type = types.str;
        default = "default";
      };
      list = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      units = mkOption {
        type = types.attrsOf (types.submodule {
          options.after = mkOption {
            type = types.listOf types.str;
            default = [ ];
          };
          options.flag = mkOption {
            type = types.bool;
            default = false;
          };
        });
        default = { };
      };
    };
  };

  cases = {
    "defaults apply" = eval [ decls ] == {
      enable = false;
      name = "default";
      list = [ ];
      units = { };
    };
    "a definition beats the default" = (eval [ decls { name = "x"; } ]).name == "x";
    "mkDefault loses to a plain definition" =
      (eval [
        decls
        { name = lib.mkDefault "weak"; }
        { name = "strong"; }
      ]).name == "strong";
    "mkForce wins" =
      (eval [
        decls
        { name = "plain"; }
        { name = lib.mkForce "forced"; }
      ]).name == "forced";
    # nixpkgs' evalModules reverses the collected modules (modules.nix:
    # `mergeModules prefix (reverseList collected)`), so definitions from
    # later modules come first.
    "lists concatenate, later modules first" =
      (eval [
        decls
        { list = [ "a" ]; }
        { list = [ "b" ]; }
      ]).list == [
        "b"
        "a"
      ];
    "conflicting values fail" = fails (eval [
      decls
      { name = "a"; }
      { name = "b"; }
    ]).name;
    "a wrong type fails" = fails (eval [
      decls
      { enable = "yes"; }
    ]).enable;
    "an undeclared option fails" = fails (eval [
      decls
      { nmae = "typo"; }
    ]);
    "an undeclared submodule option fails" = fails (eval [
      decls
      { units.a.aftr = [ ]; }
    ]).units;
    # A module may condition its whole config on its own option.
    "mkIf on config itself" =
      (eval [
        decls
        (
          { config, ... }:
          {
            config = lib.mkIf config.enable { name = "enabled"; };
          }
        )
        { enable = true; }
      ]).name == "enabled";
    "mkIf false defines nothing" =
      (eval [
        decls
        { units.a = lib.mkIf false { flag = true; }; }
      ]).units == { };
    "submodule entries merge" =
      (eval [
        decls
        { units.a.after = [ "x" ]; }
        { units.a.flag = true; }
      ]).units == {
        a = {
          after = [ "x" ];
          flag = true;
        };
      };
    # Within one definition, mkMerge keeps its order.
    "mkMerge merges" =
      (eval [
        decls
        {
          config = lib.mkMerge [
            { list = [ "a" ]; }
            { list = [ "b" ]; }
          ];
        }
      ]).list == [
        "a"
        "b"
      ];
    # A module must be a module: nixpkgs' loadModule wraps a bare mkIf or
    # mkOverride in { config = ...; } and refuses any other _type, mkMerge
    # included ("Could not load a value as a module").
    "a bare mkMerge is not a module" = fails (eval [
      decls
      (lib.mkMerge [ { name = "x"; } ])
    ]);
    "a bare mkIf is a module" =
      (eval [
        decls
        (lib.mkIf true { name = "x"; })
      ]).name == "x";
  };

  failed = builtins.filter (name: !cases.${name}) (builtins.attrNames cases);
in
if failed == [ ] then true else throw "stand-in lib: failed: ${builtins.concatStringsSep "; " failed}"
