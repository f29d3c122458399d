# A project-owned stand-in for the few parts of nixpkgs' `lib` that
# offsite's Nix files use, so they can be evaluated where nixpkgs cannot be
# fetched (CI runs offline). Each function follows nixpkgs' semantics for the
# way offsite uses it; anything it does not implement throws instead of
# passing silently. It is not nixpkgs: `nix flake check` with the real
# nixpkgs remains the authority (see docs/deploy.md).
let
  inherit (builtins)
    all
    any
    attrNames
    concatLists
    concatMap
    concatStringsSep
    elem
    filter
    foldl'
    head
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    mapAttrs
    match
    replaceStrings
    stringLength
    substring
    toJSON
    ;

  lib = rec {
    # --- lists, strings, attribute sets (nixpkgs re-exports these builtins)
    inherit (builtins)
      all
      any
      attrNames
      attrValues
      concatLists
      concatMap
      concatStringsSep
      elem
      elemAt
      filter
      foldl'
      hasAttr
      head
      isAttrs
      isBool
      isFunction
      isInt
      isList
      isString
      length
      listToAttrs
      mapAttrs
      match
      replaceStrings
      stringLength
      substring
      tail
      toJSON
      ;

    fix =
      f:
      let
        x = f x;
      in
      x;
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalString = cond: s: if cond then s else "";
    optionalAttrs = cond: as: if cond then as else { };
    toList = x: if isList x then x else [ x ];
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    last = xs: builtins.elemAt xs (length xs - 1);
    reverseList =
      xs:
      let
        l = length xs;
      in
      builtins.genList (n: builtins.elemAt xs (l - n - 1)) l;

    filterAttrs =
      pred: set:
      listToAttrs (
        concatMap (
          name:
          let
            value = set.${name};
          in
          if pred name value then [ { inherit name value; } ] else [ ]
        ) (attrNames set)
      );
    mapAttrsToList = f: set: map (name: f name set.${name}) (attrNames set);
    mapAttrs' = f: set: listToAttrs (map (name: f name set.${name}) (attrNames set));
    genAttrs =
      names: f:
      listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    attrByPath =
      path: default: set:
      if path == [ ] then
        set
      else if isAttrs set && set ? ${head path} then
        attrByPath (builtins.tail path) default set.${head path}
      else
        default;
    concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
    concatStrings = concatStringsSep "";
    hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
    isDerivation = x: isAttrs x && (x.type or null) == "derivation";
    getExe =
      pkg:
      if pkg ? meta.mainProgram then
        "${pkg}/bin/${pkg.meta.mainProgram}"
      else
        throw "lib.getExe: ${pkg.name or "package"} has no meta.mainProgram (the stand-in does not guess)";

    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    # Sources: the stand-in copies nothing into the store, but runs the
    # filter once so that its body is evaluated.
    cleanSourceWith =
      {
        src,
        filter ? (_: _: true),
        name ? null,
      }:
      assert isBool (filter "${toString src}/go.mod" "regular");
      src;

    platforms.linux = [
      "x86_64-linux"
      "aarch64-linux"
    ];

    # --- module system: options and properties

    mkOption =
      {
        default ? null,
        defaultText ? null,
        example ? null,
        description ? null,
        type ? types.unspecified,
        apply ? null,
        internal ? null,
        visible ? null,
        readOnly ? null,
      }@attrs:
      attrs
      // {
        _type = "option";
        type = attrs.type or types.unspecified;
      };

    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = "Whether to enable ${name}.";
      };

    mkPackageOption =
      pkgs: name:
      {
        default ? [ name ],
        example ? null,
        extraDescription ? "",
        nullable ? false,
        pkgsText ? "pkgs",
      }:
      let
        path = toList default;
        shown = "${pkgsText}.${concatStringsSep "." path}";
      in
      mkOption {
        type = if nullable then types.nullOr types.package else types.package;
        default = attrByPath path (throw "mkPackageOption: ${shown} does not exist; set the option") pkgs;
        defaultText = literalExpression shown;
        description = "The ${name} package to use.${extraDescription}";
      };

    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;

    # --- types

    showOption = loc: concatStringsSep "." loc;

    showDefs =
      defs:
      concatMapStringsSep "\n" (
        d:
        let
          shown = builtins.tryEval (toJSON d.value);
        in
        "- In `${d.file}': ${if shown.success then shown.value else "<value>"}"
      ) defs;

    mergeEqualOption =
      loc: defs:
      let
        first = (head defs).value;
      in
      if all (d: d.value == first) defs then
        first
      else
        throw "The option `${showOption loc}' has conflicting definition values:\n${showDefs defs}";

    mkOptionType =
      {
        name,
        description ? name,
        check ? (_: true),
        merge ? mergeEqualOption,
      }:
      {
        _type = "option-type";
        inherit
          name
          description
          check
          merge
          ;
      };

    types = rec {
      unspecified = mkOptionType {
        name = "unspecified";
        merge = mergeAnything;
      };
      anything = mkOptionType {
        name = "anything";
        merge = mergeAnything;
      };
      raw = mkOptionType { name = "raw"; };
      bool = mkOptionType {
        name = "bool";
        description = "boolean";
        check = isBool;
      };
      int = mkOptionType {
        name = "int";
        description = "signed integer";
        check = isInt;
      };
      ints.positive = mkOptionType {
        name = "positiveInt";
        description = "positive integer, meaning >0";
        check = x: isInt x && x > 0;
      };
      ints.unsigned = mkOptionType {
        name = "unsignedInt";
        description = "unsigned integer, meaning >=0";
        check = x: isInt x && x >= 0;
      };
      port = mkOptionType {
        name = "port";
        description = "16 bit unsigned integer";
        check = x: isInt x && x >= 0 && x <= 65535;
      };
      str = mkOptionType {
        name = "str";
        description = "string";
        check = isString;
      };
      nonEmptyStr = mkOptionType {
        name = "nonEmptyStr";
        description = "non-empty string";
        check = x: isString x && match "[[:space:]]*" x == null;
      };
      lines = mkOptionType {
        name = "lines";
        description = "strings concatenated with \"\\n\"";
        check = isString;
        merge = _loc: defs: concatStringsSep "\n" (map (d: d.value) defs);
      };
      path = mkOptionType {
        name = "path";
        check = x: isPath x || (isString x && hasPrefix "/" x) || isDerivation x;
      };
      package = mkOptionType {
        name = "package";
        check = x: isDerivation x || (isString x && hasPrefix builtins.storeDir x);
        merge =
          loc: defs:
          let
            first = (head defs).value;
          in
          if all (d: toString d.value == toString first) defs then
            first
          else
            throw "The option `${showOption loc}' has conflicting package definitions";
      };
      attrs = mkOptionType {
        name = "attrs";
        description = "attribute set";
        check = isAttrs;
        merge = _loc: defs: foldl' (acc: d: acc // d.value) { } defs;
      };
      strMatching =
        pattern:
        mkOptionType {
          name = "strMatching ${toJSON pattern}";
          description = "string matching the pattern ${pattern}";
          check = x: isString x && match pattern x != null;
        };
      enum =
        values:
        mkOptionType {
          name = "enum";
          description = "one of ${concatMapStringsSep ", " toJSON values}";
          check = x: elem x values;
        };
      nullOr =
        t:
        mkOptionType {
          name = "nullOr";
          description = "null or ${t.description}";
          check = x: x == null || t.check x;
          merge =
            loc: defs:
            if all (d: d.value == null) defs then
              null
            else if any (d: d.value == null) defs then
              throw "The option `${showOption loc}' is defined both null and not null:\n${showDefs defs}"
            else
              t.merge loc defs;
        };
      either =
        a: b:
        mkOptionType {
          name = "either";
          description = "${a.description} or ${b.description}";
          check = x: a.check x || b.check x;
          merge =
            loc: defs:
            if all (d: a.check d.value) defs then
              a.merge loc defs
            else if all (d: b.check d.value) defs then
              b.merge loc defs
            else
              mergeEqualOption loc defs;
        };
      oneOf =
        ts:
        if ts == [ ] then
          throw "types.oneOf needs at least one type"
        else
          foldl' either (head ts) (builtins.tail ts);
      listOf =
        elemType:
        mkOptionType {
          name = "listOf";
          description = "list of ${elemType.description}";
          check = isList;
          merge =
            loc: defs:
            concatLists (
              map (
                d:
                map (
                  v:
                  checked (loc ++ [ "*" ]) elemType {
                    inherit (d) file;
                    value = v;
                  }
                ) (concatMap dischargeProperties d.value)
              ) defs
            );
        };
      attrsOf =
        elemType:
        mkOptionType {
          name = "attrsOf";
          description = "attribute set of ${elemType.description}";
          check = isAttrs;
          merge =
            loc: defs:
            let
              pushed = concatMap (
                d:
                map (value: {
                  inherit (d) file;
                  inherit value;
                }) (pushDownProperties loc d.value)
              ) defs;
              names = unique (concatMap (d: attrNames d.value) pushed);
              entry =
                name:
                evalValue (loc ++ [ name ]) { type = elemType; } (
                  concatMap (
                    d:
                    optional (d.value ? ${name}) {
                      inherit (d) file;
                      value = d.value.${name};
                    }
                  ) pushed
                );
            in
            # Entries whose every definition is mkIf false disappear, as in nixpkgs.
            listToAttrs (
              concatMap (
                name:
                let
                  e = entry name;
                in
                optional e.isDefined {
                  inherit name;
                  value = e.value;
                }
              ) names
            );
        };
      submodule =
        module:
        mkOptionType {
          name = "submodule";
          check = x: isAttrs x || isFunction x;
          merge =
            loc: defs:
            (evalModules {
              prefix = loc;
              modules = [ module ] ++ map (d: {
                _file = d.file;
                config = d.value;
              }) defs;
              specialArgs.name = lib.last loc;
            }).config;
        };
    };

    # unspecified/anything: attribute sets merge recursively, lists
    # concatenate, anything else must be equal.
    mergeAnything =
      loc: defs:
      let
        values = map (d: d.value) defs;
      in
      if all isAttrs values && !(any isDerivation values) then
        (types.attrsOf types.anything).merge loc defs
      else if all isList values then
        concatMap (d: d.value) defs
      else
        mergeEqualOption loc defs;

    # --- module system: evaluation

    # mkMerge and mkIf unwrapped down to plain values (mkIf's condition is
    # only looked at here, at the option that holds the value).
    dischargeProperties =
      value:
      let
        t = if isAttrs value then value._type or "" else "";
      in
      if t == "merge" then
        concatMap dischargeProperties value.contents
      else if t == "if" then
        if isBool value.condition then
          (if value.condition then dischargeProperties value.content else [ ])
        else
          throw "mkIf called with a non-Boolean condition"
      else
        [ value ];

    # An attribute set wrapped in properties becomes attribute sets whose
    # values carry them, without looking at any mkIf condition (so a module
    # may condition its whole config on one of its own options).
    pushDownProperties =
      loc: value:
      let
        t = value._type or "";
      in
      if !(isAttrs value) then
        throw "The option `${showOption loc}' is not an attribute set but a definition gives it ${builtins.typeOf value}"
      else if t == "merge" then
        concatMap (pushDownProperties loc) value.contents
      else if t == "if" then
        map (mapAttrs (_: mkIf value.condition)) (pushDownProperties loc value.content)
      else if t == "override" then
        map (mapAttrs (_: mkOverride value.priority)) (pushDownProperties loc value.content)
      else if t != "" then
        throw "The stand-in lib does not implement `${t}' at `${showOption loc}'"
      else
        [ value ];

    checked =
      loc: type: def:
      if type.check def.value then
        type.merge loc [ def ]
      else
        throw "A definition for option `${showOption loc}' is not of type `${type.description}':\n${showDefs [ def ]}";

    # One option's value from its definitions: mkIf/mkMerge discharged,
    # only the highest-priority (lowest number) definitions kept, the
    # default counting as mkOptionDefault, then type-checked and merged.
    evalValue =
      loc: opt: defs:
      let
        discharged = concatMap (
          d:
          map (value: {
            inherit (d) file;
            inherit value;
          }) (dischargeProperties d.value)
        ) defs;
        withDefault =
          discharged
          ++ optional (opt ? default) {
            file = "default of ${showOption loc}";
            value = mkOptionDefault opt.default;
          };
        priority = d: if isAttrs d.value && (d.value._type or "") == "override" then d.value.priority else 100;
        highest = foldl' (p: d: if priority d < p then priority d else p) 9999 withDefault;
        strip = d: if priority d == 100 then d else d // { value = d.value.content; };
        kept = map strip (filter (d: priority d == highest) withDefault);
        bad = filter (d: !(opt.type.check d.value)) kept;
        merged =
          if bad != [ ] then
            throw "A definition for option `${showOption loc}' is not of type `${opt.type.description}':\n${showDefs bad}"
          else
            opt.type.merge loc kept;
      in
      {
        isDefined = kept != [ ];
        value =
          if kept == [ ] then
            throw "The option `${showOption loc}' is used but not defined."
          else if (opt.apply or null) != null then
            opt.apply merged
          else
            merged;
      };

    isOption = x: isAttrs x && (x._type or "") == "option";

    # The option tree's values from the definitions pushed down to it.
    # Undeclared attributes are collected in `unknown`, to throw on.
    evalTree =
      loc: decls: defs:
      if isOption decls then
        {
          value = (evalValue loc decls defs).value;
          unknown = [ ];
        }
      else
        let
          pushed = concatMap (
            d:
            map (value: {
              inherit (d) file;
              inherit value;
            }) (pushDownProperties loc d.value)
          ) defs;
          defsOf =
            name:
            concatMap (
              d:
              optional (d.value ? ${name}) {
                inherit (d) file;
                value = d.value.${name};
              }
            ) pushed;
          sub = mapAttrs (name: decl: evalTree (loc ++ [ name ]) decl (defsOf name)) decls;
          undeclared = concatMap (
            d:
            map (name: "The option `${showOption (loc ++ [ name ])}' does not exist. Definition in `${d.file}'.") (
              filter (name: !(decls ? ${name})) (attrNames d.value)
            )
          ) pushed;
        in
        {
          value = mapAttrs (_: s: s.value) sub;
          unknown = undeclared ++ concatMap (s: s.unknown) (builtins.attrValues sub);
        };

    # Option declarations from all modules, merged into one tree.
    mergeDecls =
      loc: a: b:
      if isOption a || isOption b then
        throw "The option `${showOption loc}' is declared twice (the stand-in does not merge declarations)."
      else
        a // mapAttrs (name: v: if a ? ${name} then mergeDecls (loc ++ [ name ]) a.${name} v else v) b;

    # A small evalModules: imports, options, config (or the shorthand),
    # mkIf/mkMerge/mkOverride, specialArgs. Returns config, options, and
    # throws on definitions of undeclared options.
    evalModules =
      {
        modules,
        specialArgs ? { },
        prefix ? [ ],
      }:
      let
        args = specialArgs // {
          inherit lib config options;
        };
        call =
          f:
          let
            formals = builtins.functionArgs f;
          in
          f (if formals == { } then args else builtins.intersectAttrs formals args);
        load =
          file: m:
          if isPath m || isString m then
            load (toString m) (import m)
          else if isFunction m then
            load file (call m)
          else if isAttrs m && (m._type or "module") == "module" then
            {
              file = m._file or file;
              inherit m;
            }
          # As nixpkgs' loadModule: a bare mkIf or mkOverride is the config
          # of a module; anything else with a _type (mkMerge too) is refused.
          else if isAttrs m && elem m._type [ "if" "override" ] then
            load file { config = m; }
          else if isAttrs m then
            throw "Could not load a value as a module, because it is of type \"${m._type}\", in file ${file}."
          else
            throw "module in ${file} is a ${builtins.typeOf m}, not a module";
        # One module and the modules it imports (not yet loaded).
        collectOne =
          file: m:
          let
            l = load file m;
            known = [
              "_file"
              "key"
              "imports"
              "options"
              "config"
              "meta"
            ];
            shorthand = !(l.m ? config || l.m ? options);
          in
          {
            module = {
              inherit (l) file;
              options = l.m.options or { };
              config = if shorthand then removeAttrs l.m known else l.m.config or { };
              stray = if shorthand then [ ] else filter (n: !(elem n known)) (attrNames l.m);
            };
            imports = map (i: {
              inherit (l) file;
              m = i;
            }) (l.m.imports or [ ]);
          };
        # Breadth first, the order builtins.genericClosure gives nixpkgs'
        # collectModules; then reversed, as nixpkgs' evalModules does, so
        # that definitions from later modules come first.
        collectLevels =
          level:
          if level == [ ] then
            [ ]
          else
            let
              loaded = map (x: collectOne x.file x.m) level;
            in
            map (x: x.module) loaded ++ collectLevels (concatMap (x: x.imports) loaded);
        collected = reverseList (
          collectLevels (
            map (m: {
              file = "<module>";
              inherit m;
            }) modules
          )
        );
        stray = concatMap (
          c: map (n: "Module `${c.file}' has an unsupported attribute `${n}'.") c.stray
        ) collected;
        options = foldl' (mergeDecls prefix) { } (map (c: c.options) collected);
        tree = evalTree prefix options (
          map (c: {
            inherit (c) file;
            value = c.config;
          }) collected
        );
        errors = stray ++ tree.unknown;
        config = if errors == [ ] then tree.value else throw (concatStringsSep "\n" errors);
      in
      {
        inherit config options;
      };
  };
in
lib
