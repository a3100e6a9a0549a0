# lib.assertOneOf names the value and the choices, as nixpkgs' reference shows.
let lib = import ../lib; in lib.assertOneOf "foo" "foo" [ "bar" "baz" ]
