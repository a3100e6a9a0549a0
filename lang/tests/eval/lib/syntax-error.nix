# Deliberately broken: used by eval-fail-import-syntax-error.nix
{ a = 1
