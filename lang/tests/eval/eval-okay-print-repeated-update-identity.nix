# `s // { }` and `{ } // s` return s itself (same attribute storage), so it
# counts as already printed; removeAttrs/mapAttrs/intersectAttrs build copies.
let s = { a = 1; }; in
[ s (s // { }) ({ } // s) (builtins.removeAttrs s [ ]) (builtins.mapAttrs (n: v: v) s) (builtins.head [ s ]) ({ b = s; }.b) ]
