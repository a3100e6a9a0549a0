# Sources copied to the store filtered: nixpkgs' `lib.sources`. A filtered source is a set
# (`_isLibCleanSourceWith`) that remembers the original path, its filter and name, so that
# filters compose before anything is copied; its `outPath` is `builtins.path` of them.
{ lib }:
let
  inherit (builtins) baseNameOf match isString readFile;
  inherit (lib.filesystem) pathType pathIsDirectory pathIsRegularFile;

  # Version control data, editors' backups and swap files, objects, `result` links of
  # builds, and files that are neither files, directories nor links.
  cleanSourceFilter = name: type:
    let base = baseNameOf (toString name); in
    !(
      base == ".git"
      || (type == "directory" && builtins.elem base [ ".svn" "CVS" ".hg" ])
      || lib.hasSuffix "~" base
      || match "^\\.sw[a-z]$" base != null
      || match "^\\..*\\.sw[a-z]$" base != null
      || lib.hasSuffix ".o" base
      || lib.hasSuffix ".so" base
      || (type == "symlink" && lib.hasPrefix "result" base)
      || type == "unknown"
    );

  attributesOf = src:
    if src ? _isLibCleanSourceWith then { inherit (src) origSrc filter name; }
    else { origSrc = src; filter = _: _: true; name = "source"; };
  fromAttributes = { origSrc, filter, name }: {
    _isLibCleanSourceWith = true;
    inherit origSrc filter name;
    outPath = builtins.path { inherit filter name; path = origSrc; };
  };

  cleanSourceWith = { src, filter ? (_: _: true), name ? null }:
    let orig = attributesOf src; in
    fromAttributes {
      inherit (orig) origSrc;
      filter = path: type: filter path type && orig.filter path type;
      name = if name != null then name else orig.name;
    };

  # The commit a git directory's HEAD names (through a worktree's `gitdir:` file, loose
  # refs and `packed-refs`), or why there is none.
  gitCommit = gitDir:
    let
      resolve = dir: ref:
        let
          file = dir + "/${ref}";
          packed = dir + "/packed-refs";
        in
        if pathIsRegularFile file then
          let
            text = lib.fileContents file;
            symbolic = match "^ref: (.*)$" text;
          in if symbolic == null then { value = text; } else resolve dir (builtins.head symbolic)
        else if pathIsRegularFile packed then
          let
            lines = builtins.filter isString (builtins.split "\n" (readFile packed));
            hits = builtins.filter (m: m != null) (map (match "([0-9a-f]+) ${lib.escapeRegex ref}") lines);
          in if hits == [ ] then { error = "Could not find ${ref} in ${toString packed}"; } else { value = builtins.head (builtins.head hits); }
        else { error = "Not a .git directory: ${toString dir}"; };
      absolute = base: p: if lib.hasPrefix "/" p then p else toString base + "/${p}";
    in
    if pathIsRegularFile gitDir then
      let m = match "^gitdir: (.*)$" (lib.fileContents gitDir); in
      if m == null then { error = "File contains no gitdir reference: ${toString gitDir}"; }
      else
        let
          worktree = absolute (dirOf gitDir) (builtins.head m);
          common =
            if pathIsRegularFile (worktree + "/commondir")
            then absolute worktree (lib.removeSuffix "/" (lib.fileContents (worktree + "/commondir")))
            else worktree;
          head = lib.fileContents (worktree + "/HEAD");
          symbolic = match "^ref: (.*)$" head;
        in if symbolic == null then { value = head; } else resolve common (builtins.head symbolic)
    else resolve gitDir "HEAD";

  sources = {
    inherit pathType pathIsDirectory pathIsRegularFile cleanSourceFilter cleanSourceWith;
    cleanSource = src: cleanSourceWith { filter = cleanSourceFilter; inherit src; };
    # Keeps what some regular expression matches, on the path relative to the source.
    sourceByRegex = src: regexes:
      let origSrc = (attributesOf src).origSrc; in
      cleanSourceWith {
        inherit src;
        filter = path: type:
          let rel = lib.removePrefix (toString origSrc + "/") (toString path); in
          builtins.any (re: match re rel != null) regexes;
      };
    # Keeps directories and the files whose names end in one of `exts`.
    sourceFilesBySuffices = src: exts:
      cleanSourceWith {
        inherit src;
        filter = name: type:
          type == "directory" || builtins.any (ext: lib.hasSuffix ext (baseNameOf (toString name))) exts;
      };
    pathHasContext = builtins.hasContext;
    # Whether `src` can be filtered: a filtered source, or a path or string without context.
    canCleanSource = src: src ? _isLibCleanSourceWith || !(builtins.hasContext (toString src));
    pathIsGitRepo = path: gitCommit path ? value;
    commitIdFromGitRepo = path: let r = gitCommit path; in if r ? value then r.value else throw r.error;
  };
in
{
  inherit sources;
  inherit (sources) cleanSourceFilter cleanSource cleanSourceWith sourceByRegex
    sourceFilesBySuffices pathHasContext canCleanSource pathIsGitRepo commitIdFromGitRepo;
}
