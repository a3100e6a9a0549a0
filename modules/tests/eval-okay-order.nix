import ./common.nix [
  ({ lib, ... }: { options.l = lib.mkOption { type = lib.types.listOf lib.types.int; }; options.s = lib.mkOption { type = lib.types.lines; }; })
  ({ lib, ... }: { l = lib.mkAfter [ 9 ]; s = lib.mkAfter "last"; })
  ({ lib, ... }: { l = [ 5 ]; s = "middle"; })
  ({ lib, ... }: { l = lib.mkBefore [ 1 ]; s = lib.mkBefore "first"; })
]
