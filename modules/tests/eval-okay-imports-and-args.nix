import ./common.nix [
  ({ lib, ... }: { imports = [ ({ lib, ... }: { options.x = lib.mkOption { type = lib.types.int; }; }) ]; _module.args.answer = 42; })
  ({ answer, ... }: { x = answer; })
]
