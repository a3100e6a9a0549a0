let check = x: if x > 2 then throw "too big: ${toString x}" else x; in map check [ 1 2 3 ]
