let
  graph = { a = [ "b" "c" ]; b = [ "d" ]; c = [ "d" "a" ]; d = [ ]; e = [ "a" ]; };
  closure = start: map (x: x.key) (builtins.genericClosure {
    startSet = map (k: { key = k; }) start;
    operator = item: map (k: { key = k; }) graph.${item.key};
  });
in
[ (closure [ "a" ]) (closure [ "d" ]) (closure [ "e" "b" ]) ]
