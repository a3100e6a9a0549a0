import ./common.nix [
  ({ lib, ... }: { options.networking.hostName = lib.mkOption { type = lib.types.str; }; })
  { _file = "configuration.nix"; networking.hostname = "box"; }
]
