# Nix 2.8 has langVersion 6.
builtins.langVersion
