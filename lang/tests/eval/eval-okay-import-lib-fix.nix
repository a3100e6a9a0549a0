let lib = import ./lib/mini-lib.nix; in
(lib.fix (self: { a = 2; b = self.a * 21; })).b
