# lib.toInt refuses what is not a decimal integer, quoting it as a Nix string.
let lib = import ../lib; in lib.toInt "3.14"
