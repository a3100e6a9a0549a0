# corpus: read-write
# The filter receives absolute paths and a type; collect what it saw.
let
  seen = builtins.filterSource (path: type: builtins.trace "${baseNameOf path}:${type}" true) ./data/dir;
in
builtins.attrNames (builtins.readDir seen)
