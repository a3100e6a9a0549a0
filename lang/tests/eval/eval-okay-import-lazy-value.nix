# import itself succeeds; the file's value is only forced when used.
let v = import ./lib/throws-on-import.nix; in builtins.length [ v v ]
