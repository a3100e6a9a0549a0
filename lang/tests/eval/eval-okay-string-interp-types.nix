# Interpolation accepts strings and paths (and attrsets with outPath / __toString),
# but not ints: use toString.
let s = { __toString = self: "to-string"; }; o = { outPath = "out-path"; }; in
"${s} ${o} ${toString 42}"
