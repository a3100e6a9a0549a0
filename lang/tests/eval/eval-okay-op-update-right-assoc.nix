# // is right-associative; the rightmost value wins.
let a = { x = "a"; }; b = { x = "b"; y = "b"; }; c = { y = "c"; }; in [ (a // b // c) ((a // b) // c) (a // (b // c)) ]
