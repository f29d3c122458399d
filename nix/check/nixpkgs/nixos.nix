# A stand-in for the corner of NixOS that nix/module.nix touches: the
# declarations of systemd.services / systemd.timers (with the option names
# NixOS uses, so a misspelt one is an error), tmpfiles rules, users.groups,
# services.k3s's options, assertions and warnings, and the rendering of
# units to text as nixos/lib/systemd-lib.nix does it.
{ lib }:
let
  inherit (lib) mkOption types;

  # nixos/lib/utils.nix
  utils = rec {
    escapeSystemdExecArg =
      arg:
      let
        s =
          if builtins.isPath arg then
            "${arg}"
          else if builtins.isString arg then
            arg
          else if builtins.isInt arg || lib.isDerivation arg then
            toString arg
          else
            throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
      in
      builtins.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);
    escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
  };

  # nixos/lib/systemd-unit-options.nix: unitOption merges lists by
  # concatenation and wants single values to agree.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    check =
      x:
      builtins.isBool x
      || builtins.isInt x
      || builtins.isString x
      || builtins.isPath x
      || lib.isDerivation x
      || builtins.isList x;
    merge =
      loc: defs:
      if builtins.any (d: builtins.isList d.value) defs then
        builtins.concatMap (d: lib.toList d.value) defs
      else
        lib.mergeEqualOption loc defs;
  };

  listOfStr = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  nullOrInt = mkOption {
    type = types.nullOr types.int;
    default = null;
  };

  commonUnitOptions = {
    enable = mkOption {
      type = types.bool;
      default = true;
    };
    description = mkOption {
      type = types.str;
      default = "";
    };
    documentation = listOfStr;
    requires = listOfStr;
    wants = listOfStr;
    upholds = listOfStr;
    after = listOfStr;
    before = listOfStr;
    bindsTo = listOfStr;
    partOf = listOfStr;
    conflicts = listOfStr;
    requisite = listOfStr;
    wantedBy = listOfStr;
    requiredBy = listOfStr;
    upheldBy = listOfStr;
    aliases = listOfStr;
    onFailure = listOfStr;
    onSuccess = listOfStr;
    startLimitBurst = nullOrInt;
    startLimitIntervalSec = nullOrInt;
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
    restartTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    reloadTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
  };

  serviceOptions = commonUnitOptions // {
    environment = mkOption {
      type = types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.str
            types.path
            types.package
          ]
        )
      );
      default = { };
    };
    path = mkOption {
      type = types.listOf (types.either types.package types.str);
      default = [ ];
    };
    serviceConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
    script = mkOption {
      type = types.lines;
      default = "";
    };
    preStart = mkOption {
      type = types.lines;
      default = "";
    };
    postStart = mkOption {
      type = types.lines;
      default = "";
    };
    preStop = mkOption {
      type = types.lines;
      default = "";
    };
    postStop = mkOption {
      type = types.lines;
      default = "";
    };
    restartIfChanged = mkOption {
      type = types.bool;
      default = true;
    };
    reloadIfChanged = mkOption {
      type = types.bool;
      default = false;
    };
    stopIfChanged = mkOption {
      type = types.bool;
      default = true;
    };
    startAt = mkOption {
      type = types.either types.str (types.listOf types.str);
      default = [ ];
    };
  };

  timerOptions = commonUnitOptions // {
    timerConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
  };

  declarations = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      networking.hostName = mkOption {
        type = types.str;
        default = "nixos";
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      systemd.services = mkOption {
        type = types.attrsOf (types.submodule { options = serviceOptions; });
        default = { };
      };
      systemd.timers = mkOption {
        type = types.attrsOf (types.submodule { options = timerOptions; });
        default = { };
      };
      systemd.tmpfiles.rules = listOfStr;
      users.groups = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.gid = nullOrInt;
            options.members = listOfStr;
          }
        );
        default = { };
      };
      # nixos/modules/services/cluster/rancher (k3s.nix, default.nix): the
      # options offsite's module reads or defines.
      services.k3s = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        role = mkOption {
          type = types.enum [
            "server"
            "agent"
          ];
          default = "server";
        };
        serverAddr = mkOption {
          type = types.str;
          default = "";
        };
        clusterInit = mkOption {
          type = types.bool;
          default = false;
        };
        disableAgent = mkOption {
          type = types.bool;
          default = false;
        };
        token = mkOption {
          type = types.str;
          default = "";
        };
        tokenFile = mkOption {
          type = types.nullOr types.path;
          default = null;
        };
        configPath = mkOption {
          type = types.nullOr types.path;
          default = null;
        };
        extraFlags = mkOption {
          type = types.either types.str (types.listOf types.str);
          default = [ ];
        };
      };
    };
  };

  # nixos/lib/systemd-lib.nix
  toOption =
    x:
    if x == true then
      "true"
    else if x == false then
      "false"
    else
      toString x;
  attrsToSection =
    as:
    lib.concatStrings (
      builtins.concatLists (
        lib.mapAttrsToList (name: value: map (x: "${name}=${toOption x}\n") (lib.toList value)) as
      )
    );
  unitSection =
    def:
    let
      joined = name: list: lib.optionalAttrs (list != [ ]) { ${name} = toString list; };
    in
    joined "Requires" def.requires
    // joined "Wants" def.wants
    // joined "Upholds" def.upholds
    // joined "After" def.after
    // joined "Before" def.before
    // joined "BindsTo" def.bindsTo
    // joined "PartOf" def.partOf
    // joined "Conflicts" def.conflicts
    // joined "Requisite" def.requisite
    // lib.optionalAttrs (def.description != "") { Description = def.description; }
    // joined "Documentation" def.documentation
    // joined "OnFailure" def.onFailure
    // joined "OnSuccess" def.onSuccess
    // lib.optionalAttrs (def.startLimitIntervalSec != null) {
      StartLimitIntervalSec = toString def.startLimitIntervalSec;
    }
    // lib.optionalAttrs (def.startLimitBurst != null) { StartLimitBurst = toString def.startLimitBurst; }
    // def.unitConfig;
  commonUnitText =
    def: lines:
    "[Unit]\n"
    + attrsToSection (unitSection def)
    + "\n"
    + lines
    + lib.optionalString (def.wantedBy != [ ]) "\n[Install]\nWantedBy=${toString def.wantedBy}\n";

  unsupported =
    name: def:
    let
      used = builtins.filter (o: def.${o} != "") [
        "script"
        "preStart"
        "postStart"
        "preStop"
        "postStop"
      ];
    in
    if used != [ ] then
      throw "systemd.services.${name}: the stand-in does not render ${toString used}; use serviceConfig.Exec*"
    else if def.startAt != [ ] then
      throw "systemd.services.${name}: the stand-in does not render startAt; declare a timer"
    else
      def;

  serviceToText =
    name: def':
    let
      def = unsupported name def';
      env = lib.filterAttrs (_: v: v != null) def.environment;
    in
    commonUnitText def (
      "[Service]\n"
      + lib.concatMapStringsSep "" (n: "Environment=${builtins.toJSON "${n}=${env.${n}}"}\n") (
        builtins.attrNames env
      )
      + attrsToSection def.serviceConfig
    );
  timerToText = _name: def: commonUnitText def ("[Timer]\n" + attrsToSection def.timerConfig);

  # Units by file name, as NixOS would install them.
  units =
    config:
    lib.mapAttrs' (name: def: {
      name = "${name}.service";
      value = serviceToText name def;
    }) (lib.filterAttrs (_: d: d.enable) config.systemd.services)
    // lib.mapAttrs' (name: def: {
      name = "${name}.timer";
      value = timerToText name def;
    }) (lib.filterAttrs (_: d: d.enable) config.systemd.timers);
in
{
  inherit utils;

  # Evaluates modules as a NixOS system would: returns the config, the
  # messages of failed assertions, and the units (which throw, as a NixOS
  # build does, while any assertion fails).
  eval =
    {
      modules,
      pkgs ? { },
    }:
    let
      evaluated = lib.evalModules {
        modules = [ declarations ] ++ modules;
        specialArgs = {
          inherit pkgs utils;
          modulesPath = throw "the stand-in has no modulesPath";
        };
      };
      inherit (evaluated) config;
      failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
    in
    {
      inherit config failedAssertions;
      inherit (config) warnings;
      units =
        if failedAssertions == [ ] then
          units config
        else
          throw "Failed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failedAssertions}";
    };
}
