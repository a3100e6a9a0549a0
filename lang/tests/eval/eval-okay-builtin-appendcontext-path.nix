let
  f = builtins.toFile "ac-path" "x";
  plain = builtins.unsafeDiscardStringContext f;
in
[ (builtins.getContext (builtins.appendContext plain { ${plain} = { path = true; }; })) (builtins.getContext (builtins.appendContext "no-context-needed" { })) ]
