let x = 1; s = { inherit x; y.z = 2; }; p = n: let q = builtins.unsafeGetAttrPos n s; in [ q.line q.column ]; in
[ (p "x") (p "y") (p "y" == p "y") ]
