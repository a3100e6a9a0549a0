# Packages' metadata, outputs and search paths: nixpkgs' `lib.meta` and the path helpers of
# `lib.strings`.
{ lib }:
let
  inherit (builtins) isString isAttrs typeOf concatStringsSep filter;
  getOutput = output: pkg:
    if !(pkg ? outputSpecified) || !pkg.outputSpecified then pkg.${output} or pkg.out or pkg else pkg;
in
{
  addMetaAttrs = newAttrs: drv: drv // { meta = (drv.meta or { }) // newAttrs; };
  setPrio = priority: lib.addMetaAttrs { inherit priority; };
  lowPrio = lib.setPrio 10;
  hiPrio = lib.setPrio (-10);
  lowPrioSet = set: builtins.mapAttrs (n: lib.lowPrio) set;
  hiPrioSet = set: builtins.mapAttrs (n: lib.hiPrio) set;
  getName = x: if isString x then (builtins.parseDrvName x).name else x.pname or (builtins.parseDrvName x.name).name;
  getVersion = x: if isString x then (builtins.parseDrvName x).version else x.version or (builtins.parseDrvName x.name).version;

  inherit getOutput;
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getDev = getOutput "dev";
  getMan = getOutput "man";
  # The first of `candidates` the package has as an output, else the package.
  getFirstOutput = candidates: pkg:
    let present = filter (name: pkg ? ${name}) candidates; in
    if pkg.outputSpecified or false || present == [ ] then pkg else pkg.${builtins.head present};
  getStatic = lib.getFirstOutput [ "static" "lib" "out" ];
  getInclude = lib.getFirstOutput [ "include" "dev" "out" ];
  chooseDevOutputs = map lib.getDev;

  getExe' = x: y:
    assert lib.assertMsg (lib.isDerivation x)
      "lib.meta.getExe': The first argument is of type ${typeOf x}, but it should be a derivation instead.";
    assert lib.assertMsg (isString y)
      "lib.meta.getExe': The second argument is of type ${typeOf y}, but it should be a string instead.";
    assert lib.assertMsg (builtins.match ".*/.*" y == null)
      "lib.meta.getExe': The second argument \"${y}\" is a nested path with a \"/\" character, but it should just be the name of the executable instead.";
    "${getOutput "bin" x}/bin/${y}";
  getExe = x:
    lib.getExe' x (x.meta.mainProgram or (lib.warn
      "getExe: Package ${x.name or x.pname or "<unknown name>"} does not have the meta.mainProgram attribute. We'll assume that the main program has the same name for now, but this behavior is deprecated, because it leads to surprising errors when the assumption does not hold. If the package has a main program, please set `meta.mainProgram` in its definition to make this warning go away. Otherwise, if the package does not have a main program, or if you don't control its definition, use getExe' to specify the name to the program, such as lib.getExe' foo \"bar\"."
      (lib.getName x)));

  makeSearchPath = subDir: paths:
    concatStringsSep ":" (map (p: p + "/" + subDir) (filter (x: x != null) paths));
  makeSearchPathOutput = output: subDir: pkgs: lib.makeSearchPath subDir (map (getOutput output) pkgs);
  makeBinPath = lib.makeSearchPathOutput "bin" "bin";
  makeLibraryPath = lib.makeSearchPathOutput "lib" "lib";
  makeIncludePath = lib.makeSearchPathOutput "dev" "include";
  dontDistribute = drv: lib.addMetaAttrs { hydraPlatforms = [ ]; } drv;
  setName = name: drv: drv // { inherit name; };
  updateName = updater: drv: drv // { name = updater drv.name; };
  appendToName = suffix: lib.updateName (name:
    let x = builtins.parseDrvName name; in "${x.name}-${suffix}-${x.version}");
  mapDerivationAttrset = f: set: builtins.mapAttrs (name: pkg: if lib.isDerivation pkg then f pkg else pkg) set;
  # Whether `platform` is what `elem` (a system string, or a pattern over its `parsed` or
  # whole attributes) describes.
  platformMatch = platform: elem:
    if isString elem then platform ? system && elem == platform.system
    else lib.matchAttrs (if elem ? parsed then elem else { parsed = elem; }) platform;
  availableOn = platform: pkg:
    ((!(pkg ? meta.platforms)) || builtins.any (lib.platformMatch platform) pkg.meta.platforms)
    && builtins.all (elem: !(lib.platformMatch platform elem)) (pkg.meta.badPlatforms or [ ]);
  licensesSpdx = builtins.listToAttrs (map (l: { name = l.spdxId; value = l; })
    (filter (l: l ? spdxId) (builtins.attrValues lib.licenses)));
  meta = {
    inherit (lib) addMetaAttrs setPrio lowPrio hiPrio lowPrioSet hiPrioSet getExe getExe' getName
      getVersion dontDistribute setName updateName appendToName mapDerivationAttrset platformMatch
      availableOn licensesSpdx getLicenseFromSpdxId getLicenseFromSpdxIdOr;
  };
}
