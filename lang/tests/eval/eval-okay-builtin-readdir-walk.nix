# Walk a directory tree recursively, listing files relative to the root.
let
  walk = dir: prefix: builtins.concatLists (map (name:
    let type = (builtins.readDir dir).${name}; in
    if type == "directory" then walk (dir + "/${name}") "${prefix}${name}/" else [ "${prefix}${name} (${type})" ])
    (builtins.attrNames (builtins.readDir dir)));
in
walk ./data ""
