# Collatz sequence starting at 6, via genericClosure.
map (x: x.key) (builtins.genericClosure {
  startSet = [ { key = 6; } ];
  operator = x: if x.key == 1 then [ ] else [ { key = if x.key / 2 * 2 == x.key then x.key / 2 else 3 * x.key + 1; } ];
})
