# An imported file does not see the importer's `with` or let scope.
let value = "importer"; in with { name = "with"; }; (import ./lib/simple.nix).name
