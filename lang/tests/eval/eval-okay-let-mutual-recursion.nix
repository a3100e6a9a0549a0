let
  isEven = n: if n == 0 then true else isOdd (n - 1);
  isOdd = n: if n == 0 then false else isEven (n - 1);
in
map isEven [ 0 1 2 7 10 ]
