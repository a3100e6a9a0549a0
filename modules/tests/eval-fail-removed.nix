import ./common.nix [
  ({ lib, ... }: { imports = [ (lib.mkRemovedOptionModule [ "old" ] "Use new instead.") ]; })
  { old = 1; }
]
