let c = import ./common.nix [
  ({ lib, ... }: { options.needed = lib.mkOption { type = lib.types.str; }; })
]; in c.needed
