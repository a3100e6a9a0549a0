# Functions are never equal, except when compared inside a container that is
# the very same value (pointer equality shortcut of lists/attrsets).
let f = x: x; s = { inherit f; }; l = [ f ]; in
[ (f == f) ((x: x) == (x: x)) (s == s) (l == l) ([ f ] == [ f ]) ({ inherit f; } == { inherit f; }) (s.f == s.f) ]
