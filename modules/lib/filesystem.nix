# Files and directories (`lib.filesystem`) and path values (`lib.path`), with nixpkgs' behaviour.
{ lib }:
let
  inherit (builtins) pathExists readDir attrNames concatMap isPath isString length head tail
    filter substring stringLength;

  pathType = path:
    if !(pathExists path) then throw "lib.filesystem.pathType: Path ${toString path} does not exist."
    else if toString path == "/" then "directory"
    else (readDir (dirOf path)).${baseNameOf path};

  # A subpath's components, or the reason it is not a valid subpath.
  subpathComponents = s:
    if !(isString s) then { error = "is not a string"; }
    else if s == "" then { error = "is an empty string"; }
    else if substring 0 1 s == "/" then { error = "is an absolute path"; }
    else
      let parts = filter (c: c != "" && c != ".") (lib.splitString "/" s); in
      if builtins.elem ".." parts then { error = "contains a `..` component"; }
      else { components = parts; };
  checked = fn: s:
    let r = subpathComponents s; in
    if r ? error then throw "lib.path.${fn}: Argument is not a valid subpath string:\n    The given string ${builtins.toJSON s} ${r.error}." else r.components;
  fromComponents = cs: if cs == [ ] then "./" else "./" + lib.concatStringsSep "/" cs;
  pathComponents = p: filter (c: c != "") (lib.splitString "/" (toString p));
in
{
  # nixpkgs' top level has these from `lib.sources`, which takes them from here.
  inherit pathType;
  pathIsDirectory = lib.filesystem.pathIsDirectory;
  pathIsRegularFile = lib.filesystem.pathIsRegularFile;
  filesystem = {
    inherit pathType;
    pathIsDirectory = path: pathExists path && pathType path == "directory";
    pathIsRegularFile = path: pathExists path && pathType path == "regular";
    listFilesRecursive = dir:
      concatMap (name:
        let p = dir + "/${name}"; in
        if (readDir dir).${name} == "directory" then lib.filesystem.listFilesRecursive p else [ p ])
        (attrNames (readDir dir));
    # The nearest directory at or above `dir` that holds a file matching `pattern`.
    locateDominatingFile = pattern: file:
      let
        go = dir:
          let matches = filter (n: builtins.match pattern n != null) (attrNames (readDir dir)); in
          if matches != [ ] then { path = dir; inherit matches; }
          else if toString dir == "/" then null
          else go (dirOf dir);
      in go (if lib.filesystem.pathIsDirectory file then file else dirOf file);
    # A directory names its `default.nix`; a string ending in `/` is taken as one.
    resolveDefaultNix = v:
      if lib.filesystem.pathIsDirectory v then v + "/default.nix"
      else if isString v && lib.hasSuffix "/" v then v + "default.nix"
      else v;
    # The subdirectories of `root` that hold a Cabal file named after them, by name.
    haskellPathsInDir = root:
      lib.listToAttrs (concatMap (name:
        let p = root + "/${name}"; in
        if pathExists (p + "/${name}.cabal") then [ { inherit name; value = p; } ] else [ ])
        (attrNames (readDir root)));
  };

  path = {
    append = path: subpath:
      assert lib.assertMsg (isPath path) "lib.path.append: The first argument is of type ${builtins.typeOf path}, but a path was expected";
      let cs = checked "append" subpath; in
      if cs == [ ] then path else path + ("/" + lib.concatStringsSep "/" cs);
    hasPrefix = path1:
      assert lib.assertMsg (isPath path1) "lib.path.hasPrefix: First argument is of type ${builtins.typeOf path1}, but a path was expected";
      path2:
        assert lib.assertMsg (isPath path2) "lib.path.hasPrefix: Second argument is of type ${builtins.typeOf path2}, but a path was expected";
        lib.lists.hasPrefix (pathComponents path1) (pathComponents path2);
    removePrefix = path1:
      assert lib.assertMsg (isPath path1) "lib.path.removePrefix: First argument is of type ${builtins.typeOf path1}, but a path was expected.";
      path2:
        assert lib.assertMsg (isPath path2) "lib.path.removePrefix: Second argument is of type ${builtins.typeOf path2}, but a path was expected.";
        let p1 = pathComponents path1; p2 = pathComponents path2; in
        if lib.lists.hasPrefix p1 p2 then fromComponents (lib.drop (length p1) p2)
        else throw "lib.path.removePrefix: The first path argument \"${toString path1}\" is not a component-wise prefix of the second path argument \"${toString path2}\".";
    splitRoot = path:
      assert lib.assertMsg (isPath path) "lib.path.splitRoot: Argument is of type ${builtins.typeOf path}, but a path was expected";
      { root = /.; subpath = fromComponents (pathComponents path); };
    # Whether the path lies in a store path (the store directory and one hashed name).
    hasStorePathPrefix = path:
      assert lib.assertMsg (isPath path) "lib.path.hasStorePathPrefix: Argument is of type ${builtins.typeOf path}, but a path was expected";
      let
        store = pathComponents builtins.storeDir;
        cs = pathComponents path;
        n = length store;
      in
      lib.lists.hasPrefix store cs && length cs > n
      && builtins.match ".{32}-.+" (builtins.elemAt cs n) != null;
    subpath = {
      isValid = s: !(subpathComponents s ? error);
      join = subpaths: fromComponents (concatMap (s: checked "subpath.join" s) subpaths);
      components = s: checked "subpath.components" s;
      normalise = s: fromComponents (checked "subpath.normalise" s);
    };
  };
}
