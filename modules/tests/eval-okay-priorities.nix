import ./common.nix [
  ({ lib, ... }: { options.a = lib.mkOption { type = lib.types.int; default = 1; }; options.b = lib.mkOption { type = lib.types.int; }; options.c = lib.mkOption { type = lib.types.int; default = 5; }; })
  ({ lib, ... }: { a = lib.mkDefault 2; b = 3; c = lib.mkForce 7; })
  ({ lib, ... }: { b = lib.mkDefault 4; c = 6; })
]
