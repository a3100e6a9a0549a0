# ''$ gives a literal $ ; ''${ starts no interpolation.
let x = "X"; in
[ ''''${x}'' ''a ''${x} b'' ''$x'' ''$${x}'' ''${x}$'' ''''$'' ]
