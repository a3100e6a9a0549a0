# inherit (e) does not force e unless an inherited attribute is used.
let s = { inherit (throw "unused") a; b = 1; }; in s.b
