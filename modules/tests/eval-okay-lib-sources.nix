# lib.sources: which names the filters keep (nothing is copied here), how filtered sources
# compose, and the commit a git directory names (loose refs, packed-refs, a detached HEAD, a
# worktree's gitdir file).
let
  lib = import ../lib;
  keep = f: names: builtins.filter (n: f (./. + "/${n.name}") n.type) names;
  names = [
    { name = ".git"; type = "directory"; }
    { name = ".hg"; type = "directory"; }
    { name = "notes~"; type = "regular"; }
    { name = ".swp"; type = "regular"; }
    { name = ".main.c.swo"; type = "regular"; }
    { name = "main.o"; type = "regular"; }
    { name = "libx.so"; type = "regular"; }
    { name = "result"; type = "symlink"; }
    { name = "result-dev"; type = "regular"; }
    { name = "socket"; type = "unknown"; }
    { name = "main.c"; type = "regular"; }
    { name = "src"; type = "directory"; }
  ];
  cleaned = lib.cleanSource ./data;
  narrowed = lib.cleanSourceWith { src = cleaned; filter = path: type: baseNameOf path != "lib.txt"; name = "narrow"; };
  byRegex = lib.sourceByRegex ./data [ "lib\\..*" "sub" "sub/.*" ];
  bySuffix = lib.sourceFilesBySuffices ./data [ ".json" ".toml" ];
in
[
  (map (n: n.name) (keep lib.cleanSourceFilter names))
  (cleaned._isLibCleanSourceWith && cleaned.origSrc == ./data && cleaned.name == "source")
  narrowed.name
  (narrowed.filter ./data/lib.txt "regular")
  (narrowed.filter ./data/lib.json "regular")
  (narrowed.filter (./data + "/notes~") "regular")
  (map (n: byRegex.filter (./data + "/${n}") "regular") [ "lib.json" "sub" "sub/deep.txt" "other" ])
  (map (n: bySuffix.filter (./data + "/${n}") "regular") [ "lib.json" "lib.toml" "lib.txt" ])
  (bySuffix.filter ./data/sub "directory")
  (lib.canCleanSource ./data)
  (lib.canCleanSource cleaned)
  (lib.pathHasContext "plain")
  (lib.commitIdFromGitRepo ./git-sample/loose)
  (lib.commitIdFromGitRepo ./git-sample/packed)
  (lib.commitIdFromGitRepo ./git-sample/detached)
  (lib.commitIdFromGitRepo ./git-sample/worktree-file)
  (lib.pathIsGitRepo ./git-sample/loose)
  (lib.pathIsGitRepo ./data)
]
