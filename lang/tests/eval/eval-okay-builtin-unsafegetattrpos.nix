# The file is absolute: only line and column and the base name are printed.
let
  s = {
    a = 1;
      b = 2;
  };
  pos = n: let p = builtins.unsafeGetAttrPos n s; in [ p.line p.column (baseNameOf p.file) ];
in
[ (pos "a") (pos "b") (builtins.unsafeGetAttrPos "missing" s) ]
