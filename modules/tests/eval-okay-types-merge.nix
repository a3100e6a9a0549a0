import ./common.nix [
  ({ lib, ... }: with lib.types; {
    options.lines = lib.mkOption { type = lines; };
    options.commas = lib.mkOption { type = commas; };
    options.e = lib.mkOption { type = enum [ "a" "b" ]; };
    options.any = lib.mkOption { type = anything; };
    options.eith = lib.mkOption { type = either int str; };
    options.same = lib.mkOption { type = str; };
  })
  { lines = "x"; commas = "1"; e = "a"; any = { p.q = 1; }; eith = 3; same = "v"; }
  { lines = "y"; commas = "2"; e = "a"; any = { p.r = 2; }; same = "v"; }
]
