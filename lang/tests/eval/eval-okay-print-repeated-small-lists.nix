# Nix 2.8 keys «repeated» on the list's element storage. Lists of 1 or 2
# elements keep their elements inline in the value, so a COPY of such a value
# (e.g. returned by builtins.head) is not detected; a list of 3+ elements is.
# Referring to the same list value twice is detected for every size.
let l1 = [ 1 ]; l2 = [ 1 2 ]; l3 = [ 1 2 3 ]; in
[ [ l1 l1 ] [ l2 (builtins.head [ l2 ]) ] [ l3 (builtins.head [ l3 ]) ] (builtins.tail [ 0 l1 ]) ]
