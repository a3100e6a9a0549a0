let c = import ./common.nix [
  ({ lib, ... }: { options.x = lib.mkOption { type = lib.types.str; }; })
  ({ pkgs, ... }: { x = pkgs.hello; })
]; in c.x
