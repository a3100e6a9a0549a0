# `$${` is a literal `$` followed by an interpolation? No: `$$` is a literal `$$`
# and `{` is literal, so "$${x}" is the literal text "$${x}".
let x = "X"; in [ "$${x}" "$$" "a$${x}b" "${x}$" ]
